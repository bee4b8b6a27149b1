"""The output registry: every output a run may store, in the one place that lists them.

Each `Output` says what the output is called where (its name, which its pass and the run's
output_errors use; the stored object under fiddle/<hash>/<runid>/; the suffix of its /i/ and
/ai/ URLs and download name), its MIME type, how pages label and show it (its kind picks the view
in templates/_results.html), which runs produce it, whether its pass may fail alone, and what its
bytes must be (fiddle_protocol/checks.py). Everything else reads this table: the runner renders
the outputs a request produces (runner_vm/drawing/passes.py has one pass per drawn output) and
its sandbox host checks them; the functions store them with their type, serve them by suffix,
and list them (and the errors of those whose pass failed) on pages and in /e/<hash> JSON. Adding
an output is one entry here and its pass.

The lookups read the module's tables when called, so a test may extend a table and see every
consumer pick the new entry up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from fiddle_protocol import checks
from fiddle_protocol.checks import BadOutput, Check, RunFacts

DRAW = "draw"
DECODE_IMAGE = "decode_image"
DIFF_IMAGES = "diff_images"
TASKS = (DRAW, DECODE_IMAGE, DIFF_IMAGES)
THUMBNAIL_SIZES = (64, 128, 256)


class Kind(StrEnum):
    """What an output is to a page: which view shows it beside its download link."""

    IMAGE = "image"  # shown as an <img>
    DOCUMENT = "document"  # shown in an <object> viewer
    VIDEO = "video"  # shown in a <video> player (site/src/player.js enhances it)
    BINARY = "binary"  # a download only
    INFO = "info"  # a note about how the run was rendered (the GL info): a download only
    TEXT = "text"  # the printed text, shown from the run's text; the file is a download


@dataclass(frozen=True)
class Output:
    name: str  # what the renderer and the code call it ("raster")
    stored: str  # the object's name under fiddle/<hash>/<runid>/ ("cpu.png")
    suffix: str  # what follows the hash in /i/ and /ai/ URLs and in the download's name
    mime: str
    label: str  # the download link's text ("PNG")
    title: str  # what its view is called ("Raster")
    kind: Kind
    produced_by: Callable[[RunFacts], bool]  # whether a run with these facts produces it
    verify: Check  # raises BadOutput when the bytes are not what the output claims to be
    # Whether its pass may fail alone: the run goes on without it, and its error is in the
    # run's output_errors. A pass of any other output (the raster) that fails fails the run.
    stands_alone: bool = False

    def check(self, data: bytes, run: RunFacts) -> str | None:
        """What is wrong with these bytes as this output, or None when nothing is."""
        try:
            self.verify(data, run)
        except BadOutput as bad:
            return f"output {self.stored} {bad}"
        return None


# Which runs produce an output; each docstring's first line is what docs/http-api.md says.


def drawn(run: RunFacts) -> bool:
    """Everything but a text-only fiddle draws (its program still gets a canvas, kept nowhere)."""
    return not run.options.text_only


def still(run: RunFacts) -> bool:
    """The outputs of one draw (PDF, SKP, GPU PNG): an animated fiddle makes videos instead, as
    in Skia Fiddle. Its raster PNG stays, frame 0, the video's poster."""
    return drawn(run) and not run.options.animated


def on_gpu(run: RunFacts) -> bool:
    """Drawn on a runner that has a GPU (the runner says so in its result, RunResult.gpu)."""
    return drawn(run) and run.gpu.available


def still_on_gpu(run: RunFacts) -> bool:
    """A still fiddle drawn on a runner that has a GPU."""
    return still(run) and run.gpu.available


def animated(run: RunFacts) -> bool:
    """An animated fiddle (`animated`), one video frame per 1/60 s of its duration."""
    return drawn(run) and run.options.animated


def animated_on_gpu(run: RunFacts) -> bool:
    """An animated fiddle on a runner that has a GPU."""
    return animated(run) and run.gpu.available


def printed(run: RunFacts) -> bool:
    """Every run that prints something."""
    return bool(run.text)


def always(_run: RunFacts) -> bool:
    """Every decode of an upload."""
    return True


RASTER = Output(
    "raster", "cpu.png", "_raster.png", "image/png", "PNG", "Raster", Kind.IMAGE,
    drawn, checks.canvas_png,
)  # fmt: skip
TEXT = Output(
    "text", "txt.txt", ".txt", "text/plain; charset=utf-8", "Text", "Printed text", Kind.TEXT,
    printed, checks.printed_text,
)  # fmt: skip
# The GPU's renderer and version, beside every output drawn on it (written by the child from what
# its host says of the GPU, and checked against that).
GLINFO = Output(
    "glinfo", "glinfo.txt", "_glinfo.txt", "text/plain; charset=utf-8", "GL info", "GL info",
    Kind.INFO, on_gpu, checks.glinfo,
)  # fmt: skip
# A fiddle run's outputs, in the order pages list them.
DRAW_OUTPUTS: tuple[Output, ...] = (
    RASTER,
    Output(
        "gpu", "gpu.png", "_gpu.png", "image/png", "GPU PNG", "GPU raster", Kind.IMAGE,
        still_on_gpu, checks.canvas_png, stands_alone=True,
    ),
    Output(
        "pdf", "pdf.pdf", ".pdf", "application/pdf", "PDF", "PDF", Kind.DOCUMENT,
        still, checks.pdf, stands_alone=True,
    ),
    Output(
        "skp", "skp.skp", ".skp", "application/octet-stream", "SKP", "SKP", Kind.BINARY,
        still, checks.skp, stands_alone=True,
    ),
    TEXT,
    Output(
        "animation", "cpu.webm", "_cpu.webm", "video/webm", "WebM", "Animation", Kind.VIDEO,
        animated, checks.webm, stands_alone=True,
    ),
    Output(
        "gpu_animation", "gpu.webm", "_gpu.webm", "video/webm", "GPU WebM", "GPU animation",
        Kind.VIDEO, animated_on_gpu, checks.webm, stands_alone=True,
    ),
    GLINFO,
)  # fmt: skip
# What decoding an upload produces: the normalised image, then its thumbnails (each checked
# against the image's size, so the image comes first). Stored under source/ and thumbnail/, and
# served at /s/<id>, so no URL suffix.
SOURCE = Output(
    "source", "source.png", "", "image/png", "Source image", "Source image", Kind.IMAGE,
    always, checks.source_png,
)  # fmt: skip
THUMBNAILS = {
    size: Output(
        f"thumbnail{size}", f"thumb{size}.png", "", "image/png", f"{size} px thumbnail",
        f"Thumbnail, {size} px", Kind.IMAGE, always, checks.thumbnail_png(size),
    )
    for size in THUMBNAIL_SIZES
}  # fmt: skip
IMAGE_OUTPUTS: tuple[Output, ...] = (SOURCE, *THUMBNAILS.values())
# What comparing two builds' raster outputs of one fiddle produces: the difference image (changed
# pixels highlighted) and how many pixels changed. The functions store the image under the older
# run, once per pair of runs (functions/storage/layout.py), with the count as its metadata; the
# compare view of the fiddle page shows both.
DIFF_IMAGE = Output(
    "diff", "diff.png", "", "image/png", "Difference", "Changed pixels", Kind.IMAGE,
    always, checks.canvas_png,
)  # fmt: skip
DIFF_COUNT = Output(
    "diff_count", "diff.json", "", "application/json", "Count", "Changed pixels, counted",
    Kind.BINARY, always, checks.diff_count,
)  # fmt: skip
DIFF_OUTPUTS: tuple[Output, ...] = (DIFF_IMAGE, DIFF_COUNT)


def for_task(task: str = DRAW) -> tuple[Output, ...]:
    """Every output a run of this task may produce."""
    if task == DECODE_IMAGE:
        return IMAGE_OUTPUTS
    if task == DIFF_IMAGES:
        return DIFF_OUTPUTS
    return DRAW_OUTPUTS


def by_stored(stored: str, task: str = DRAW) -> Output | None:
    return next((output for output in for_task(task) if output.stored == stored), None)


def by_name(name: str, task: str = DRAW) -> Output | None:
    return next((output for output in for_task(task) if output.name == name), None)


def by_suffix(filename: str) -> tuple[str, Output] | None:
    """`<hash or @name><suffix>` -> (the reference, the output); None for any other name. The
    longest suffix that fits wins: `_glinfo.txt` ends with the text's `.txt`."""
    fitting = [
        output
        for output in DRAW_OUTPUTS
        if filename.endswith(output.suffix) and len(filename) > len(output.suffix)
    ]
    if not fitting:
        return None
    output = max(fitting, key=lambda candidate: len(candidate.suffix))
    return filename[: -len(output.suffix)], output


def known(stored: str) -> bool:
    """Whether any run of any task may produce an output stored under this name."""
    return any(output.stored == stored for task in TASKS for output in for_task(task))


def expected_outputs(task: str, run: RunFacts) -> tuple[Output, ...]:
    """The outputs a successful run of this task produces, given its options, what it printed
    and which of its passes failed alone."""
    return tuple(o for o in for_task(task) if o.produced_by(run) and o.name not in run.failed)


def rendered(run: RunFacts) -> tuple[Output, ...]:
    """The outputs a draw renders (the printed text is collected as it is printed, not rendered;
    the GL info is written by the GPU's renderer, not drawn)."""
    return tuple(o for o in expected_outputs(DRAW, run) if o.kind not in (Kind.TEXT, Kind.INFO))


def problem(task: str, run: RunFacts, produced: Mapping[str, bytes], succeeded: bool) -> str | None:
    """What is wrong with a run's outputs, or None when they are exactly the ones it produces
    (none, when it failed) and each is what it claims to be. A pass may have failed alone only
    in a run that succeeded, and only where its output stands alone (run.failed)."""
    wrong = failure_problem(task, run, succeeded)
    if wrong:
        return wrong
    wanted = expected_outputs(task, run) if succeeded else ()
    names = {output.stored for output in wanted}
    extra = sorted(set(produced) - names)
    if extra:
        return f"output {extra[0]} is not one this run produces"
    missing = sorted(names - set(produced))
    if missing:
        return f"output {missing[0]} is missing"
    for output in wanted:  # in registry order: a decoded image before its thumbnails
        found = output.check(produced[output.stored], run)
        if found:
            return found
    return None


def failure_problem(task: str, run: RunFacts, succeeded: bool) -> str | None:
    """What is wrong with the outputs a run says failed alone, or None."""
    for name in sorted(run.failed):
        output = by_name(name, task)
        if output is None or not succeeded or not output.produced_by(run):
            return f"its output_errors name {name[:64]!r}, which is no output this run renders"
        if not output.stands_alone:
            return f"its output_errors name {name}, whose failure fails the run"
    return None
