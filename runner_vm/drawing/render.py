"""Rendering a user's program into the drawn outputs of the registry with skia-python.

One renderer per output pass (runner_vm/drawing/passes.py lists them): each calls the program's
draw(canvas) once on a canvas of its own, cleared to opaque white as in Skia Fiddle, and returns
the output's bytes. Whatever draw raises, a renderer leaves its native resources in a state
that is safe to free in any order, since the exception's traceback keeps them alive and is freed
later, when the renderer's own frame is long gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions

DrawFunction = Callable[[Any], object]


@dataclass
class Program:
    """The user's program as a pass calls it: its draw function and its module globals, where
    the pass sets what the program may read of it (`fiddle_pass`; an animation's `frame`)."""

    draw: DrawFunction
    globals: dict[str, Any] = field(default_factory=dict)


Renderer = Callable[[Program, FiddleOptions], bytes]


def raster(program: Program, options: FiddleOptions) -> bytes:
    return raster_png(program.draw, *options.size, srgb=options.srgb, f16=options.f16)


def raster_png(draw: DrawFunction, width: int, height: int, *, srgb: bool, f16: bool) -> bytes:
    surface = skia.Surface.MakeRaster(_image_info(width, height, srgb=srgb, f16=f16))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    image = surface.makeImageSnapshot()
    return _encode_png(image)


def pdf(program: Program, options: FiddleOptions) -> bytes:
    width, height = options.size
    stream = skia.DynamicMemoryWStream()
    document = skia.PDF.MakeDocument(stream)
    with _aborted_on_error(document):
        canvas = document.beginPage(width, height)
        canvas.clear(skia.ColorWHITE)
        program.draw(canvas)
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
    width, height = options.size
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    canvas.clear(skia.ColorWHITE)
    program.draw(canvas)
    picture = recorder.finishRecordingAsPicture()
    return bytes(picture.serialize())


def discard(program: Program, options: FiddleOptions) -> None:
    """A text-only fiddle still gets a (raster) canvas to draw on; nothing is kept."""
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(*options.size))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    program.draw(canvas)


def decode_source(png: bytes) -> tuple[Any, Any]:
    """Turn the source image bytes into the `image` and `source` globals of a program (README:
    "What a program sees")."""
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
    if image is None:
        raise ValueError("the source image could not be decoded")
    bitmap = skia.Bitmap()
    bitmap.allocPixels(image.imageInfo().makeColorType(skia.kN32_ColorType))
    image.readPixels(bitmap.pixmap(), 0, 0)
    return image, bitmap


def _image_info(width: int, height: int, *, srgb: bool, f16: bool) -> Any:
    if not srgb:
        return skia.ImageInfo.MakeN32Premul(width, height)
    color_type = skia.kRGBA_F16_ColorType if f16 else skia.kN32_ColorType
    return skia.ImageInfo.Make(
        width, height, color_type, skia.kPremul_AlphaType, skia.ColorSpace.MakeSRGB()
    )


def _encode_png(image: Any) -> bytes:
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
    program = Program(sample)
    raster(program, tiny)
    raster(program, FiddleOptions(width=16, height=16, srgb=True, f16=True))
    images.warm_up()
    pdf(program, tiny)
    skp(program, tiny)
