"""One renderer per drawn output of the registry (fiddle_protocol/outputs.py), by its name."""

from __future__ import annotations

from runner_vm.drawing import animation, gpu, render

RENDERERS: dict[str, render.Renderer] = {
    "raster": render.raster,
    "gpu": gpu.gpu_png,
    "pdf": render.pdf,
    "skp": render.skp,
    "animation": animation.cpu_webm,
    "gpu_animation": animation.gpu_webm,
}
