"""Draw the six built-in source images and their thumbnails (functions/builtin_sources.py).

    .venv/bin/python scripts/draw_builtin_sources.py [OUT_DIR]

Writes <id>.png and <id>.thumb<size>.png into OUT_DIR (default: functions/data/builtin_sources/,
where they are committed, since the functions never import Skia). Everything is drawn here with
skia-python, at the sizes of Skia Fiddle's own six images; nothing is copied from anywhere, so the
images carry this project's licence. The text of the colour wheel uses DejaVu Sans (Debian's
fonts-dejavu-core, which scripts/setup installs). Thumbnails are made by the code that makes an
upload's (runner_vm/drawing/images.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import skia

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fiddle_protocol.outputs import THUMBNAIL_SIZES  # noqa: E402 - after the path is set
from functions.builtin_sources import (  # noqa: E402
    BUILTIN_SOURCES,
    DIRECTORY,
    image_path,
    thumbnail_path,
)
from runner_vm.drawing.images import png, thumbnail  # noqa: E402

STEEL_BLUE = skia.ColorSetRGB(119, 153, 187)


def blob_path() -> skia.Path:
    """A soft, lopsided blob about 100 pixels across, its box at (20, 20)."""
    radii = [50, 44, 49, 42, 50, 46, 41, 47]
    center = skia.Point(70, 70)
    points = []
    for i, radius in enumerate(radii):
        angle = 2 * math.pi * i / len(radii)
        points.append(center + skia.Point(radius * math.cos(angle), radius * math.sin(angle)))
    path = skia.Path()
    path.moveTo(_midpoint(points[-1], points[0]))
    for i, point in enumerate(points):
        path.quadTo(point, _midpoint(point, points[(i + 1) % len(points)]))
    path.close()
    return path


def _midpoint(a: skia.Point, b: skia.Point) -> skia.Point:
    return skia.Point((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)


def draw_blob(color: int) -> Callable[[skia.Canvas], None]:
    def draw(canvas: skia.Canvas) -> None:
        canvas.drawPath(blob_path(), skia.Paint(AntiAlias=True, Color=color))

    return draw


def draw_landscape(canvas: skia.Canvas) -> None:
    """A lake at sunset: sky, clouds, sun, three ranges of hills, the water reflecting them."""
    horizon = 330
    _sky(canvas, horizon)
    _clouds(canvas, horizon)
    _sun(canvas, skia.Point(330, 262))
    _hills(canvas, horizon)
    _water(canvas, horizon)


def _sky(canvas: skia.Canvas, horizon: int) -> None:
    colors = [0xFF1B2A56, 0xFF5B4C86, 0xFFE08A66, 0xFFFAD08A]
    shader = skia.GradientShader.MakeLinear(
        [skia.Point(0, 0), skia.Point(0, horizon)], colors, [0, 0.45, 0.85, 1]
    )
    canvas.drawRect(skia.Rect(0, 0, 512, horizon), skia.Paint(Shader=shader))


def _clouds(canvas: skia.Canvas, horizon: int) -> None:
    noise = skia.PerlinNoiseShader.MakeFractalNoise(0.012, 0.035, 4, 7)
    # Noise to a warm white whose opacity follows the noise, thinner towards the horizon.
    tint = skia.ColorFilters.Matrix(
        [0, 0, 0, 0, 1.0,  0, 0, 0, 0, 0.9,  0, 0, 0, 0, 0.86,  1.8, 0, 0, 0, -0.85]
    )  # fmt: skip
    fade = skia.GradientShader.MakeLinear(
        [skia.Point(0, 30), skia.Point(0, horizon - 60)], [0xFF000000, 0x00000000]
    )
    shader = skia.Shaders.Blend(skia.BlendMode.kDstIn, noise.makeWithColorFilter(tint), fade)
    canvas.drawRect(skia.Rect(0, 0, 512, horizon), skia.Paint(Shader=shader))


def _sun(canvas: skia.Canvas, center: skia.Point) -> None:
    glow = skia.GradientShader.MakeRadial(center, 140, [0xB0FFE6A0, 0x00FFD080])
    canvas.drawCircle(center, 140, skia.Paint(AntiAlias=True, Shader=glow))
    canvas.drawCircle(center, 24, skia.Paint(AntiAlias=True, Color=0xFFFFF6DC))


def _ridge(seed: int, base: float, height: float) -> skia.Path:
    path = skia.Path()
    path.moveTo(0, 512)
    for x in range(0, 513, 4):
        wave = math.sin(x / 53.0 + seed) * 0.5 + math.sin(x / 21.0 + seed * 2.1) * 0.25
        wave += math.sin(x / 9.0 + seed * 3.7) * 0.08
        path.lineTo(x, base - height * (0.6 + wave))
    path.lineTo(512, 512)
    path.close()
    return path


def _hills(canvas: skia.Canvas, horizon: int) -> None:
    ranges = [(1, 0xFF8A6F96, 70), (4, 0xFF54496E, 45), (9, 0xFF263436, 28)]
    canvas.save()
    canvas.clipRect(skia.Rect(0, 0, 512, horizon))
    for seed, color, height in ranges:
        canvas.drawPath(_ridge(seed, horizon, height), skia.Paint(AntiAlias=True, Color=color))
    canvas.restore()


def _water(canvas: skia.Canvas, horizon: int) -> None:
    """The scene above the horizon mirrored into the water, band by band, each band shifted a
    little sideways (ripples), more so nearer the viewer; then darkened with depth."""
    scene = canvas.getSurface().makeImageSnapshot(skia.IRect(0, 0, 512, horizon))
    sampling = skia.SamplingOptions(skia.FilterMode.kLinear)
    for top in range(horizon, 512, 2):
        depth = (top - horizon) / (512 - horizon)
        shift = math.sin(top * 0.9) * (1 + 5 * depth)
        mirrored = max(0, 2 * horizon - top - 2)
        source = skia.Rect(0, mirrored, 512, mirrored + 2)
        band = skia.Rect(-8 + shift, top, 520 + shift, top + 2)
        canvas.drawImageRect(scene, source, band, sampling)
    shade = skia.GradientShader.MakeLinear(
        [skia.Point(0, horizon), skia.Point(0, 512)], [0x30101830, 0xB0101830]
    )
    canvas.drawRect(skia.Rect(0, horizon, 512, 512), skia.Paint(Shader=shade))


def draw_ball(canvas: skia.Canvas) -> None:
    """A black-and-white ball with a soft shadow, on a transparent background."""
    center, radius = skia.Point(250, 236), 220.0
    shadow = skia.Paint(
        AntiAlias=True,
        Color=0x66000000,
        MaskFilter=skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, 10),
    )
    canvas.drawOval(skia.Rect(70, 455, 430, 495), shadow)
    canvas.drawCircle(center, radius, skia.Paint(AntiAlias=True, Color=0xFFF4F4F4))
    canvas.save()
    canvas.clipPath(skia.Path.Circle(center.x(), center.y(), radius), doAntiAlias=True)
    for x, y, size, angle in _patches():
        patch = _pentagon(
            skia.Point(center.x() + x * radius, center.y() + y * radius), size * radius, angle
        )
        canvas.drawPath(patch, skia.Paint(AntiAlias=True, Color=0xFF202020))
    canvas.restore()
    shading = skia.GradientShader.MakeRadial(
        skia.Point(center.x() - 80, center.y() - 90),
        radius * 1.5,
        [0x00000000, 0x10000000, 0x70000000],
        [0, 0.5, 1],
    )
    canvas.drawCircle(center, radius, skia.Paint(AntiAlias=True, Shader=shading))
    outline = skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=3)
    outline.setColor(0xFF505050)
    canvas.drawCircle(center, radius, outline)


def _patches() -> list[tuple[float, float, float, float]]:
    """(x, y, size, rotation) of the dark patches, in units of the ball's radius: one in the
    middle, five smaller ones around it, cut by the rim."""
    patches = [(0.0, 0.0, 0.26, -90.0)]
    for i in range(5):
        angle = math.radians(-90 + 36 + 72 * i)
        distance = 0.78
        patches.append(
            (distance * math.cos(angle), distance * math.sin(angle), 0.2, math.degrees(angle) + 90)
        )
    return patches


def _pentagon(center: skia.Point, size: float, rotation: float) -> skia.Path:
    path = skia.Path()
    for i in range(5):
        angle = math.radians(rotation + 72 * i)
        point = skia.Point(center.x() + size * math.cos(angle), center.y() + size * math.sin(angle))
        if i == 0:
            path.moveTo(point)
        else:
            path.lineTo(point)
    path.close()
    return path


def draw_colour_wheel(canvas: skia.Canvas) -> None:
    """A ring of every hue with the letters of the primaries at their hues, K in the middle."""
    center = skia.Point(64, 64)
    hues = [0xFFFF0000, 0xFFFFFF00, 0xFF00FF00, 0xFF00FFFF, 0xFF0000FF, 0xFFFF00FF, 0xFFFF0000]
    ring = skia.Paint(
        AntiAlias=True,
        Style=skia.Paint.kStroke_Style,
        StrokeWidth=30,
        Shader=skia.GradientShader.MakeSweep(64, 64, hues),
    )
    canvas.drawCircle(center, 44, ring)
    bold = skia.Typeface("DejaVu Sans", skia.FontStyle.Bold())
    font = skia.Font(bold, 15)
    letters = ["R", "Y", "G", "C", "B", "M"]
    for i, letter in enumerate(letters):
        angle = math.radians(60 * i)
        _centered_text(
            canvas,
            letter,
            center.x() + 44 * math.cos(angle),
            center.y() + 44 * math.sin(angle),
            font,
            0xFF000000,
        )
    _centered_text(canvas, "K", center.x(), center.y(), skia.Font(bold, 28), 0xFF000000)


def _centered_text(
    canvas: skia.Canvas, text: str, x: float, y: float, font: skia.Font, color: int
) -> None:
    bounds = skia.Rect()
    font.measureText(text, skia.TextEncoding.kUTF8, bounds)
    paint = skia.Paint(AntiAlias=True, Color=color)
    canvas.drawString(text, x - bounds.centerX(), y - bounds.centerY(), font, paint)


def draw_checkerboard(canvas: skia.Canvas) -> None:
    """Black and white squares of 16 pixels, black at the top left."""
    canvas.clear(skia.ColorWHITE)
    for row in range(4):
        for column in range(4):
            if (row + column) % 2 == 0:
                square = skia.Rect.MakeXYWH(column * 16, row * 16, 16, 16)
                canvas.drawRect(square, skia.Paint(Color=skia.ColorBLACK))


DRAWINGS: dict[int, tuple[Callable[[skia.Canvas], None], bool]] = {
    # id: (how it is drawn, whether it is opaque)
    1: (draw_blob(STEEL_BLUE), False),
    2: (draw_blob(skia.ColorRED), False),
    3: (draw_landscape, True),
    4: (draw_ball, False),
    5: (draw_colour_wheel, False),
    6: (draw_checkerboard, True),
}


def render(source_id: int, width: int, height: int) -> skia.Image:
    draw, opaque = DRAWINGS[source_id]
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(width, height))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorBLACK if opaque else skia.ColorTRANSPARENT)
    draw(canvas)
    return surface.makeImageSnapshot()


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in BUILTIN_SOURCES:
        image = render(source.id, source.width, source.height)
        files: dict[Path, Any] = {image_path(source.id, directory): image}
        for size in THUMBNAIL_SIZES:
            files[thumbnail_path(source.id, size, directory)] = thumbnail(image, size)
        for path, picture in files.items():
            path.write_bytes(png(picture))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else DIRECTORY
    written = write_all(directory)
    total = sum(path.stat().st_size for path in written)
    print(f"wrote {len(written)} files ({total} bytes) to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
