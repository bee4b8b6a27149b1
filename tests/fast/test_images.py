"""The upload decoder in-process; the sandboxed path is tested through /_/upload."""

from __future__ import annotations

import skia

from runner_vm.drawing import images


def small_png() -> bytes:
    surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(200, 120))
    surface.getCanvas().clear(0xFFE8710A)
    return bytes(surface.makeImageSnapshot().encodeToData(skia.kPNG, 100))


def churn_the_heap(size: int) -> list[object]:
    """Allocations of the freed buffer's size, so freed memory is reused and overwritten."""
    return [skia.Data.MakeWithCopy(b"\xaa" * size) for _ in range(8)]


def test_the_codec_still_reads_its_bytes_after_the_caller_dropped_them() -> None:
    # skia-python's Codec does not copy or reference its buffer: before OpenedImage held the
    # bytes, a temporary buffer here was freed at once and the decode below read the churn.
    png = small_png()
    for _ in range(200):
        opened = images.OpenedImage(skia.Data.MakeWithCopy(png).bytes())
        churn = churn_the_heap(len(png))  # alive until the decode is done
        info = skia.ImageInfo.MakeN32Premul(200, 120)
        pixels = bytearray(info.computeMinByteSize())
        result = opened.codec.getPixels(info, pixels, info.minRowBytes())
        del churn
        assert result == skia.Codec.Result.kSuccess
        assert pixels[:4] != b"\x00\x00\x00\x00"
