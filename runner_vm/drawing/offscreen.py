"""The `offscreen` global: the offscreen render target Skia Fiddle offers, as a skia.Surface.

With the `offscreen` option a program finds, in its global `offscreen`, a surface of
offscreen_width x offscreen_height pixels with the canvas's colour type and colour space, cleared
to transparent; without it, `offscreen` is None. Each output gets a fresh one
(render.Program.begin_pass), made where that output is drawn:

- in the GPU outputs (the GPU image and video), on the runner's GPU context: a render target with
  `offscreen_sample_count` MSAA samples (at most what the GPU supports: a larger count is lowered
  to that, and the page says so), texture-backed when
  `offscreen_texturable` (its snapshot is a texture, no copy), with mipmaps when
  `offscreen_mipmap`; not texturable, it is a GL renderbuffer wrapped as a render target, as in
  Skia Fiddle, and its snapshot is a copy;
- in the CPU outputs (raster, PDF, SKP, the CPU animation), or on a runner without a GPU, a raster
  surface of the same size: sample count, texturable and mipmap mean nothing there.

A program draws into `offscreen.getCanvas()` and draws `offscreen.makeImageSnapshot()` onto its
canvas: a GPU image onto the GPU canvas, a raster one onto the others.
"""

from __future__ import annotations

from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions


def make(options: FiddleOptions, gpu_context: Any | None) -> Any | None:
    """A fresh offscreen surface for one output, or None without the offscreen option."""
    if not options.offscreen:
        return None
    size = (options.offscreen_width, options.offscreen_height)
    from runner_vm.drawing import render

    info = render.image_info(options, size)
    surface = _on_gpu(options, info, gpu_context) if gpu_context is not None else None
    if surface is None:
        surface = skia.Surface.MakeRaster(info)
    if surface is None:
        raise MemoryError
    surface.getCanvas().clear(skia.ColorTRANSPARENT)
    return surface


def samples(options: FiddleOptions, max_samples: int) -> int:
    """The sample count the GPU target gets: the one asked for, at most the GPU's."""
    return max(0, min(options.offscreen_sample_count, max_samples))


def _on_gpu(options: FiddleOptions, info: Any, context: Any) -> Any | None:
    from runner_vm.drawing import gl

    count = samples(options, gl.status().max_samples)
    if not options.offscreen_texturable:
        from runner_vm.drawing import renderbuffer

        return renderbuffer.surface(context, info, count)
    return skia.Surface.MakeRenderTarget(
        context, skia.Budgeted.kNo, info, count, skia.kTopLeft_GrSurfaceOrigin, None,
        options.offscreen_mipmap,
    )  # fmt: skip
