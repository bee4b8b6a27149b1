"""Rendering a user's program into the drawn outputs of the registry with skia-python.

One renderer per output pass (runner_vm/drawing/passes.py lists them, with the registry's
outputs, fiddle_protocol/outputs.py): each calls the program's draw(canvas) on a canvas of its
own (once per frame for the animations, runner_vm/drawing/animation.py; the GPU outputs are
runner_vm/drawing/gpu.py), cleared to opaque white as in Skia Fiddle, and returns the output's
bytes. Whatever draw raises, a renderer leaves its native resources in a state that is safe to
free in any order, since the exception's traceback keeps them alive and is freed later, when the
renderer's own frame is long gone.

Colour (README, "Colour"): by default a canvas is N32 with no colour space; with `srgb` it is N32
in sRGB; with `f16` it is half float (kRGBA_F16) in *linear* sRGB, as Skia Fiddle does. The PNG
is Skia's encoding of that surface as it is: 8-bit with an sRGB chunk for srgb, and 16-bit RGBA
tagged with an ICC profile of linear sRGB for f16, so a viewer shows the colours the option means.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions
from runner_vm.drawing import offscreen

DrawFunction = Callable[[Any], object]


@dataclass
class Program:
    """The user's program as a pass calls it: its draw function and its module globals, where
    each pass sets what the program reads of it (`fiddle_pass`, `offscreen`, an animation's
    `frame`)."""

    draw: DrawFunction
    globals: dict[str, Any] = field(default_factory=dict)
    encode_seconds: float = 0.0  # CPU spent encoding this run's videos (animation.py)

    def begin_pass(self, options: FiddleOptions, gpu_context: Any | None = None) -> None:
        """A new output: a fresh `offscreen` surface (on this GPU context, if one is given), and
        frame 0. Nothing drawn into one output's offscreen target is seen by another."""
        self.globals["offscreen"] = offscreen.make(options, gpu_context)
        self.globals["frame"] = 0.0

    def draw_on(self, canvas: Any, frame: float = 0.0) -> None:
        canvas.clear(skia.ColorWHITE)
        self.globals["frame"] = frame
        self.draw(canvas)


Renderer = Callable[[Program, FiddleOptions], bytes]


def raster(program: Program, options: FiddleOptions) -> bytes:
    program.begin_pass(options)
    surface = skia.Surface.MakeRaster(image_info(options))
    program.draw_on(surface.getCanvas())
    return encode_png(surface.makeImageSnapshot())


def raster_png(draw: DrawFunction, width: int, height: int, *, srgb: bool, f16: bool) -> bytes:
    """The raster output of a draw function alone (tests and benchmarks draw with it)."""
    return raster(Program(draw), FiddleOptions(width=width, height=height, srgb=srgb, f16=f16))


def pdf(program: Program, options: FiddleOptions) -> bytes:
    program.begin_pass(options)
    width, height = options.size
    stream = skia.DynamicMemoryWStream()
    document = skia.PDF.MakeDocument(stream)
    with _aborted_on_error(document):
        canvas = document.beginPage(width, height)
        program.draw_on(canvas)
        document.endPage()
        document.close()
    return bytes(stream.detachAsData())


@contextlib.contextmanager
def _aborted_on_error(document: Any) -> Iterator[None]:
    """Abort a PDF document that draw left open. An open document closes itself when it is
    freed, writing to its stream; when draw raised, the traceback frees the two in any order,
    and a document closing into a freed stream crashed the child (SIGSEGV, measured). An aborted
    document forgets its stream, so either may go first."""
    try:
        yield
    except BaseException:
        document.abort()
        raise


def skp(program: Program, options: FiddleOptions) -> bytes:
    program.begin_pass(options)
    width, height = options.size
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    program.draw_on(canvas)
    picture = recorder.finishRecordingAsPicture()
    return bytes(picture.serialize())


def discard(program: Program, options: FiddleOptions) -> None:
    """A text-only fiddle still gets a (raster) canvas to draw on; nothing is kept."""
    program.begin_pass(options)
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(*options.size))
    program.draw_on(surface.getCanvas())


def decode_source(png: bytes, mipmaps: bool = False) -> tuple[Any, Any]:
    """Turn the source image bytes into the `image` and `source` globals of a program (README:
    "Outputs"); with `source_mipmap`, the image carries its mipmaps (built on the
    CPU here; a GPU canvas drawing it uploads a mipmapped texture)."""
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
    if image is None:
        raise ValueError("the source image could not be decoded")
    bitmap = skia.Bitmap()
    bitmap.allocPixels(image.imageInfo().makeColorType(skia.kN32_ColorType))
    image.readPixels(bitmap.pixmap(), 0, 0)
    if mipmaps:
        image = with_mipmaps(image)
    return image, bitmap


def with_mipmaps(image: Any) -> Any:
    """The image with its mipmap levels built; raster first, as a lazy (encoded) image has none
    to carry."""
    raster_image = image.makeRasterImage()
    return raster_image.withDefaultMipmaps()


def image_info(options: FiddleOptions, size: tuple[int, int] | None = None) -> Any:
    """The canvas's pixels: N32 without a colour space, N32 sRGB, or F16 linear sRGB."""
    width, height = size or options.size
    if not options.srgb:
        return skia.ImageInfo.MakeN32Premul(width, height)
    if options.f16:
        return skia.ImageInfo.Make(
            width, height, skia.kRGBA_F16_ColorType, skia.kPremul_AlphaType,
            skia.ColorSpace.MakeSRGBLinear(),
        )  # fmt: skip
    return skia.ImageInfo.Make(
        width, height, skia.kN32_ColorType, skia.kPremul_AlphaType, skia.ColorSpace.MakeSRGB()
    )


def encode_png(image: Any) -> bytes:
    data = image.encodeToData(skia.kPNG, 100)
    if data is None:
        raise RuntimeError("PNG encoding failed")
    return bytes(data)


def warm_up() -> None:
    """Pay Skia's one-time costs (font manager, PDF and PNG code) before forking."""

    def sample(canvas: Any) -> None:
        paint = skia.Paint(AntiAlias=True, Color=skia.ColorBLUE)
        canvas.drawString("warm", 4, 12, skia.Font(), paint)
        canvas.drawCircle(8, 8, 4, paint)

    from runner_vm.drawing import images

    tiny = FiddleOptions(width=16, height=16)
    raster(Program(sample), tiny)
    raster(Program(sample), FiddleOptions(width=16, height=16, srgb=True))
    raster(Program(sample), FiddleOptions(width=16, height=16, srgb=True, f16=True))
    images.warm_up()
    pdf(Program(sample), tiny)
    skp(Program(sample), tiny)
