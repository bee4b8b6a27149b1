"""The GPU output (the registry's "gpu"): the program drawn by Skia's GPU backend
(GrDirectContext on OpenGL) on the context every child inherits from its host
(runner_vm/drawing/gl.py), read back and encoded as the raster PNG is: the same colour type and
space, the same encoding.

Warm-up: the host draws a fixed scene of the common kinds of drawing on the GPU before the zygote
is forked, so the shaders llvmpipe compiles for them (40-450 ms of CPU each, the GPU's dominant
cost) are compiled once, not in every child. It never draws anything of a user's, and it frees
the GPU resources it used: a child finds only that fixed scene's leftovers, if anything.
"""

from __future__ import annotations

from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions
from runner_vm.drawing import gl, render

# A child draws on the context it inherited; EGL itself forgets it in a forked process (glvnd
# resets its state on the first EGL call after fork), so a program that calls EGL loses it.
LOST = (
    "the GPU's pixels could not be read back: a program that calls EGL itself loses the GL "
    "context it was given"
)


class GpuFailed(RuntimeError):
    """The GPU could not render this output (not the program's fault); the message says why."""


def gpu_png(program: render.Program, options: FiddleOptions) -> bytes:
    context = require_context()
    surface = render_target(context, options)
    program.begin_pass(options, context)
    program.draw_on(surface.getCanvas())
    return render.encode_png(read_back(context, surface))


def require_context() -> Any:
    """The GrDirectContext, told to forget the GL state it knew: a program may have called GL
    itself (through ctypes, or a GrDirectContext of its own) since Skia last drew."""
    context = gl.direct_context()
    if context is None:
        raise GpuFailed(f"the GPU output cannot be drawn: {gl.status().reason}")
    context.resetContext()
    return context


def render_target(context: Any, options: FiddleOptions) -> Any:
    info = render.image_info(options)
    surface = skia.Surface.MakeRenderTarget(
        context, skia.Budgeted.kNo, info, 0, skia.kTopLeft_GrSurfaceOrigin, None
    )
    if surface is None:
        width, height = options.size
        raise GpuFailed(f"the GPU cannot make a {width}x{height} render target")
    return surface


def read_back(context: Any, surface: Any) -> Any:
    """The surface's pixels as a raster image (Skia cannot encode a texture-backed one)."""
    context.flushAndSubmit()
    image = surface.makeImageSnapshot().makeRasterImage()
    if image is None:
        raise GpuFailed(LOST)
    return image


# --------------------------------------------------------------------------------------------
# Warm-up

_WARM_SIZE = 96


def _warm_scene(canvas: Any) -> None:
    """One of each common kind of drawing (shapes, strokes, paths, text, gradients, images,
    blur): their shaders are the ones most fiddles use."""
    paint = skia.Paint
    canvas.drawRect(skia.Rect(1, 1, 20, 20), paint(Color=0xFF0000FF))
    canvas.drawCircle(30, 30, 10, paint(AntiAlias=True))
    ring = paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=2)
    canvas.drawCircle(30, 30, 10, ring)
    canvas.drawLine(0, 0, 50, 60, paint(AntiAlias=True))
    canvas.drawLine(0, 0, 50, 60, paint(AntiAlias=True, StrokeWidth=4))
    canvas.drawRRect(skia.RRect.MakeRectXY(skia.Rect(5, 5, 60, 40), 8, 8), paint(AntiAlias=True))
    path = skia.Path().moveTo(0, 0).cubicTo(90, 0, 0, 90, 80, 80).close()
    canvas.drawPath(path, paint(AntiAlias=True))
    canvas.drawString("Warm 123", 5, 90, skia.Font(None, 24), paint(AntiAlias=True))
    linear = skia.GradientShader.MakeLinear([(0, 0), (96, 0)], [0xFFFF0000, 0xFF0000FF])
    canvas.drawPaint(paint(Shader=linear, BlendMode=skia.BlendMode.kMultiply))
    radial = skia.GradientShader.MakeRadial((50, 50), 50, [0xFFFFFF00, 0xFF00FFFF])
    canvas.drawRect(skia.Rect(0, 0, 60, 60), paint(Shader=radial))
    image = _warm_image()
    canvas.drawImage(image, 10, 10)
    _scaled(canvas, image, skia.Rect(0, 0, 90, 90))
    blur = skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, 4)
    canvas.drawCircle(60, 60, 20, paint(AntiAlias=True, MaskFilter=blur))
    canvas.drawOval(skia.Rect(10, 10, 80, 50), paint(AntiAlias=True, Color=0x8000FF00))


def _scaled(canvas: Any, image: Any, rect: Any) -> None:
    """The image drawn scaled and filtered (builds before m88 have no SamplingOptions: their
    filtering is the paint's)."""
    if hasattr(skia, "SamplingOptions"):
        canvas.drawImageRect(image, rect, skia.SamplingOptions(skia.FilterMode.kLinear))
    else:
        canvas.drawImageRect(image, rect, skia.Paint(FilterQuality=skia.kLow_FilterQuality))


def _no_drawing(_canvas: Any) -> None:
    return None


def _offscreen_drawer(program: render.Program) -> render.DrawFunction:
    """Draws into the program's offscreen target, then the target onto the canvas."""

    def draw(canvas: Any) -> None:
        target = program.globals["offscreen"]
        target.getCanvas().drawCircle(4, 4, 3, skia.Paint(AntiAlias=True))
        canvas.drawImage(target.makeImageSnapshot(), 2, 2)

    return draw


def _warm_image() -> Any:
    info = skia.ImageInfo.MakeN32Premul(16, 16)
    return skia.Image.MakeRasterData(info, bytes(range(256)) * 4, 64)


def warm_up() -> None:
    """Compile the common shaders for each colour mode, then free what they used."""
    context = gl.direct_context()
    if context is None:
        return
    for srgb, f16 in ((False, False), (True, False), (True, True)):
        options = FiddleOptions(width=_WARM_SIZE, height=_WARM_SIZE, srgb=srgb, f16=f16)
        gpu_png(render.Program(_warm_scene), options)
    for texturable in (False, True):  # both kinds of offscreen target
        options = FiddleOptions(
            width=16, height=16, offscreen=True, offscreen_width=8, offscreen_height=8,
            offscreen_texturable=texturable,
        )  # fmt: skip
        program = render.Program(_no_drawing)
        program.draw = _offscreen_drawer(program)
        gpu_png(program, options)
    context.freeGpuResources()
