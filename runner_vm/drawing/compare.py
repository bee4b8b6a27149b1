"""Comparing two builds' raster outputs of one fiddle, inside the sandbox: the PNGs came from
user programs, so they are decoded only here, like an upload (images.py).

Both images are read as 8-bit unpremultiplied RGBA, without colour conversion, and a pixel has
changed when any of its four channels differs. The difference image shows the first image faded
to a light grey, so that what did not change stays recognisable, with every changed pixel in
opaque red.
"""

from __future__ import annotations

import json
from typing import Any

import numpy
import skia

from fiddle_protocol import outputs

CHANGED = (255, 0, 0, 255)
# How much of the unchanged picture shows through the white it is faded into.
GHOST = 0.25


class NotComparable(ValueError):
    """The two images cannot be compared; the message says why."""


def diff(first_png: bytes, second_png: bytes) -> dict[str, bytes]:
    """The difference image and the count of changed pixels, as the registry's DIFF_OUTPUTS."""
    first, second = _pixels(first_png), _pixels(second_png)
    if first.shape != second.shape:
        raise NotComparable(
            f"The images differ in size ({first.shape[1]}x{first.shape[0]} and "
            f"{second.shape[1]}x{second.shape[0]}), so their pixels cannot be compared."
        )
    changed = (first != second).any(axis=2)
    counts = {"changed": int(changed.sum()), "total": int(changed.size)}
    return {
        outputs.DIFF_IMAGE.stored: _png(_highlighted(first, changed)),
        outputs.DIFF_COUNT.stored: json.dumps(counts).encode(),
    }


def _pixels(png: bytes) -> Any:
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png)) if png else None
    if image is None:
        raise NotComparable("One of the images is not a PNG that can be decoded.")
    return image.toarray(colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kUnpremul_AlphaType)


def _highlighted(picture: Any, changed: Any) -> Any:
    """The picture over white, faded towards white, with the changed pixels in CHANGED."""
    rgb = picture[..., :3].astype(numpy.float32)
    alpha = picture[..., 3:4].astype(numpy.float32) / 255
    over_white = rgb * alpha + 255 * (1 - alpha)
    grey = over_white.mean(axis=2, keepdims=True)
    faded = 255 - GHOST * (255 - grey)
    shown = numpy.empty(picture.shape, dtype=numpy.uint8)
    shown[..., :3] = faded.round().astype(numpy.uint8)
    shown[..., 3] = 255
    shown[changed] = CHANGED
    return shown


def _png(pixels: Any) -> bytes:
    image = skia.Image.fromarray(
        numpy.ascontiguousarray(pixels), colorType=skia.kRGBA_8888_ColorType
    )
    data = image.encodeToData(skia.kPNG, 100)
    if data is None:
        raise NotComparable("The difference image could not be encoded.")
    return bytes(data)
