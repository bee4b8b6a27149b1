"""Rendering a user's draw function into each drawn output of the registry with skia-python.

`RENDERERS` has one renderer per drawn output the registry (fiddle_protocol/outputs.py) lists, by
its name; a run renders those the registry says its options produce. Every canvas starts cleared
to opaque white, as in Skia Fiddle, and draw(canvas) is called once per output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions

DrawFunction = Callable[[Any], object]
Renderer = Callable[[DrawFunction, FiddleOptions], bytes]


def raster(draw: DrawFunction, options: FiddleOptions) -> bytes:
    return raster_png(draw, *options.size, srgb=options.srgb, f16=options.f16)


def raster_png(draw: DrawFunction, width: int, height: int, *, srgb: bool, f16: bool) -> bytes:
    surface = skia.Surface.MakeRaster(_image_info(width, height, srgb=srgb, f16=f16))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    image = surface.makeImageSnapshot()
    return _encode_png(image)


def pdf(draw: DrawFunction, options: FiddleOptions) -> bytes:
    width, height = options.size
    stream = skia.DynamicMemoryWStream()
    document = skia.PDF.MakeDocument(stream)
    with document.page(width, height) as canvas:
        canvas.clear(skia.ColorWHITE)
        draw(canvas)
    document.close()
    return bytes(stream.detachAsData())


def skp(draw: DrawFunction, options: FiddleOptions) -> bytes:
    width, height = options.size
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    picture = recorder.finishRecordingAsPicture()
    return bytes(picture.serialize())


# Output name (fiddle_protocol/outputs.py) -> its renderer.
RENDERERS: dict[str, Renderer] = {"raster": raster, "pdf": pdf, "skp": skp}


def discard(draw: DrawFunction, options: FiddleOptions) -> None:
    """A text-only fiddle still gets a canvas to draw on; nothing is kept."""
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(*options.size))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    draw(canvas)


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
    raster(sample, tiny)
    raster(sample, FiddleOptions(width=16, height=16, srgb=True, f16=True))
    images.warm_up()
    pdf(sample, tiny)
    skp(sample, tiny)
