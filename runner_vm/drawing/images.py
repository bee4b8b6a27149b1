"""Decoding uploaded images, inside the sandbox: image decoders are attack surface.

An upload is checked by its header first (format and dimensions), so a decompression bomb is
refused before any pixel is decoded; what passes is re-encoded as a plain PNG with thumbnails.
"""

from __future__ import annotations

from typing import Any

import skia

from fiddle_protocol import outputs
from fiddle_protocol.checks import MAX_SOURCE_DIMENSION, thumbnail_size

MAX_DIMENSION = MAX_SOURCE_DIMENSION
ACCEPTED_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "gif": "GIF"}


class ImageRejected(ValueError):
    """The upload is not an acceptable image; the message is one sentence for the user."""


class OpenedImage:
    """A Skia codec together with the bytes it decodes.

    skia-python's Codec wraps the buffer it is given without copying it or taking a reference, so
    the bytes must outlive every decode. Handing it a temporary made some decodes read freed memory
    and refuse a valid upload as corrupt; holding both here makes that impossible to get wrong.
    """

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        try:
            codec = skia.Codec.MakeFromData(self.data)
        except RuntimeError:  # skia-python raises where Skia returns no codec
            codec = None
        if codec is None:
            raise ImageRejected("The upload is not a PNG, JPEG, WebP or GIF image.")
        self.codec = codec


def decode_upload(data: bytes) -> dict[str, bytes]:
    opened = OpenedImage(data)
    codec = opened.codec
    _check_format(codec)
    width, height = codec.dimensions().width(), codec.dimensions().height()
    if width > MAX_DIMENSION or height > MAX_DIMENSION or width < 1 or height < 1:
        raise ImageRejected(
            f"The image is {width}x{height}; images may be at most {MAX_DIMENSION}x{MAX_DIMENSION}."
        )
    image = _decode(opened, width, height)
    decoded = {outputs.SOURCE.stored: png(image)}
    for size, output in outputs.THUMBNAILS.items():
        decoded[output.stored] = png(thumbnail(image, size))
    return decoded


def _check_format(codec: Any) -> None:
    name = str(codec.getEncodedFormat()).rsplit(".", 1)[-1].lower()
    if not any(accepted in name for accepted in ACCEPTED_FORMATS):
        raise ImageRejected("Only PNG, JPEG, WebP and GIF images are accepted.")


def _decode(opened: OpenedImage, width: int, height: int) -> Any:
    info = skia.ImageInfo.MakeN32Premul(width, height)
    bitmap = skia.Bitmap()
    bitmap.allocPixels(info)
    result = opened.codec.getPixels(info, bitmap.getPixels(), bitmap.rowBytes())
    # An incomplete image (a truncated file) is refused rather than stored half grey.
    if result != skia.Codec.Result.kSuccess:
        raise ImageRejected("The image is truncated or corrupt.")
    bitmap.setImmutable()
    return skia.Image.MakeFromBitmap(bitmap)


def thumbnail(image: Any, size: int) -> Any:
    """The image scaled to fit size x size with linear sampling, never enlarged: an upload's
    thumbnails, and the built-in images' (scripts/draw_builtin_sources.py)."""
    width, height = thumbnail_size(image.width(), image.height(), size)
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(width, height))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorTRANSPARENT)
    _draw_smoothly(canvas, image, skia.Rect.MakeWH(width, height))
    return surface.makeImageSnapshot()


def _draw_smoothly(canvas: Any, image: Any, rect: Any) -> None:
    """Linear sampling between linear mipmaps. Skia before m88 (skia-python 87.x, a build the
    runner serves) has no SamplingOptions; its paint's medium filter quality is the same."""
    if hasattr(skia, "SamplingOptions"):
        sampling = skia.SamplingOptions(skia.FilterMode.kLinear, skia.MipmapMode.kLinear)
        canvas.drawImageRect(image, rect, sampling)
    else:
        paint = skia.Paint(FilterQuality=skia.kMedium_FilterQuality)
        canvas.drawImageRect(image, rect, paint)


def png(image: Any) -> bytes:
    """The image as a lossless PNG."""
    data = image.encodeToData(skia.kPNG, 100)
    if data is None:
        raise ImageRejected("The image could not be converted to PNG.")
    return bytes(data)


def warm_up() -> None:
    """Run every decoder once in the host, so no child has to load anything after its filter."""
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(8, 8))
    surface.getCanvas().clear(skia.ColorRED)
    image = surface.makeImageSnapshot()
    for encoded in (skia.kPNG, skia.kJPEG, skia.kWEBP):
        decode_upload(bytes(image.encodeToData(encoded, 90)))
    decode_upload(_TINY_GIF)


_TINY_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
