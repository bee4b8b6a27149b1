"""The output passes of a fiddle run: draw(canvas) is called once per pass, and each pass renders
one output of the registry (fiddle_protocol/outputs.py).

`PASSES` has one entry per pass: its name (what the program reads in its `fiddle_pass` global
while the pass runs), the registry output it produces, and its renderer. A run takes the passes
of the outputs the registry says its options render on its runner, in the registry's order, so
the raster pass comes first. Adding a pass is a registry entry, a renderer and one line here.

A pass whose output the registry marks `stands_alone` may fail on its own: what the program
raised in it becomes that output's error (the run's `output_errors`), and the other passes go
on. Any other pass failing (the raster) fails the run, and so does a limit hit in any pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from fiddle_protocol import outputs
from fiddle_protocol.checks import RunFacts
from runner_vm.drawing import animation, gpu, render

# The global a program reads to tell which pass is drawing (README: "What a program sees").
PASS_GLOBAL = "fiddle_pass"
# What `fiddle_pass` says while a text-only fiddle draws on its discarded raster canvas.
TEXT_ONLY_PASS = "raster"


@dataclass(frozen=True)
class Pass:
    name: str  # what `fiddle_pass` says during the pass ("pdf")
    output: str  # the name of the registry output it renders ("pdf")
    render: render.Renderer  # the program's draw -> the output's bytes


PASSES: tuple[Pass, ...] = (
    Pass("raster", "raster", render.raster),
    Pass("gpu", "gpu", gpu.gpu_png),
    Pass("pdf", "pdf", render.pdf),
    Pass("skp", "skp", render.skp),
    Pass("animation", "animation", animation.cpu_webm),
    Pass("gpu_animation", "gpu_animation", animation.gpu_webm),
)


class NoPass(LookupError):
    """The registry says a run renders an output that no pass produces."""


def for_output(name: str) -> Pass:
    found = next((step for step in PASSES if step.output == name), None)
    if found is None:
        raise NoPass(f"no pass renders the output {name!r}")
    return found


def for_run(run: RunFacts) -> tuple[tuple[Pass, outputs.Output], ...]:
    """The passes of a run with the output each renders, in the registry's order."""
    return tuple((for_output(output.name), output) for output in outputs.rendered(run))
