"""Rendering a user's draw function into each output format with skia-python.

Every canvas starts cleared to opaque white, as in Skia Fiddle, and draw(canvas) is called once
per output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import skia

DrawFunction = Callable[[Any], object]


def raster_png(draw: DrawFunction, width: int, height: int, *, srgb: bool, f16: bool) -> bytes:
    surface = skia.Surface.MakeRaster(_image_info(width, height, srgb=srgb, f16=f16))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    image = surface.makeImageSnapshot()
    return _encode_png(image)


def pdf(draw: DrawFunction, width: int, height: int) -> bytes:
    stream = skia.DynamicMemoryWStream()
    document = skia.PDF.MakeDocument(stream)
    with document.page(width, height) as canvas:
        canvas.clear(skia.ColorWHITE)
        draw(canvas)
    document.close()
    return bytes(stream.detachAsData())


def skp(draw: DrawFunction, width: int, height: int) -> bytes:
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    picture = recorder.finishRecordingAsPicture()
    return bytes(picture.serialize())


def discard(draw: DrawFunction, width: int, height: int) -> None:
    """A text-only fiddle still gets a canvas to draw on; nothing is kept."""
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(width, height))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    draw(canvas)


def decode_source(png: bytes) -> tuple[Any, Any]:
    """Turn the source image bytes into the (image, source) globals of SPEC section 1."""
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

    from runner_vm import images

    raster_png(sample, 16, 16, srgb=False, f16=False)
    raster_png(sample, 16, 16, srgb=True, f16=True)
    images.warm_up()
    pdf(sample, 16, 16)
    skp(sample, 16, 16)
