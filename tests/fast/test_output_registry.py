"""The output registry (fiddle_protocol/outputs.py) is the one place outputs are listed.

Adding an output is one registry entry and its pass: a fake output registered here (a copy of
the registry with one more entry, and a pass for it) is rendered by the runner's drawing code,
passed by the sandbox host's verdict, stored, listed in /e/<hash> JSON and in the results area,
and served by its suffix, with no other change. A meta-test fails when a stored name or URL suffix
is written anywhere else in the code, the templates or the editor's scripts.

Runs in this process (tests/fast/fakes.py): the drawing code and the verdict are the runner's own
(the fiddle drawn is ours, not hostile), the functions' app is the real one over a memory store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from fiddle_protocol import checks
from fiddle_protocol import outputs as registry
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from fiddle_protocol.outputs import Kind, Output
from tests.fast.fakes import POLICY, FakeRunner

skia = pytest.importorskip("skia")

from runner_vm.child.main import report  # noqa: E402
from runner_vm.drawing import execute, passes, render  # noqa: E402
from runner_vm.host.collect import ChildReport  # noqa: E402
from runner_vm.host.exchange import RunHeader  # noqa: E402
from runner_vm.host.framing import encode  # noqa: E402
from runner_vm.host.verdict import judge  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNID = "2026-01-01T00:00:00Z-144.1"
DRAW = "def draw(canvas):\n    canvas.drawCircle(8, 8, 6, skia.Paint(Color=skia.ColorBLUE))\n"
FAKE = Output(
    "fake", "fake.png", "_fake.png", "image/png", "Fake PNG", "Fake raster", Kind.IMAGE,
    registry.drawn, checks.canvas_png,
)  # fmt: skip


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner(RUNID, "144.1")


@pytest.fixture
def fake_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[Output]:
    """The registry with one more output, and its pass: nothing else."""
    monkeypatch.setattr(registry, "DRAW_OUTPUTS", (*registry.DRAW_OUTPUTS, FAKE))
    monkeypatch.setattr(
        passes, "PASSES", (*passes.PASSES, passes.Pass("fake", FAKE.name, render.raster))
    )
    yield FAKE


def test_a_new_output_is_one_registry_entry_and_its_pass(fake_output: Output, app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/_/run", json={"code": DRAW, "options": {"width": 32, "height": 16}})
    assert answer.status_code == 200 and not answer.json["runtime_error"], answer.json
    digest = answer.json["fiddleHash"]
    url = f"/ai/{RUNID}/{digest}_fake.png"
    # The fiddle's JSON lists it, in both shapes.
    fiddle = client.get(f"/e/{digest}").json
    assert fiddle["outputs"]["fake.png"] == url
    assert fiddle["outputList"][-1] == {
        "name": "fake", "stored": "fake.png", "url": url, "label": "Fake PNG",
        "title": "Fake raster", "kind": "image", "mime": "image/png", "suffix": "_fake.png",
    }  # fmt: skip
    assert {o["stored"] for o in fiddle["outputList"]} == set(fiddle["outputs"])
    # It is served by its suffix, with its type, for the newest run and for this one.
    for path in (f"/i/{digest}_fake.png", url):
        served = client.get(path)
        assert served.status_code == 200 and served.mimetype == "image/png"
        assert checks.png_size(served.data) == (32, 16)
    # The results area shows it as an image (its kind's view) and offers it for download.
    results = client.get(f"/e/{digest}/results").get_data(as_text=True)
    assert f'src="{url}"' in results and 'alt="Fake raster output of the fiddle' in results
    assert f'download="{digest}_fake.png">Fake PNG<' in results
    assert url in client.get(f"/c/{digest}").get_data(as_text=True)


def test_the_host_checks_a_new_output_like_any_other(fake_output: Output) -> None:
    request = RunRequest("u", DRAW, FiddleOptions(width=32, height=16))
    outcome = execute.run(request)
    assert checks.png_size(outcome.outputs["fake.png"]) == (32, 16)
    outcome.outputs["fake.png"] = outcome.outputs["cpu.png"][:-12]
    forged = judge(ChildReport(encode(report(outcome)), 0), RunHeader.of(request, RUNID), POLICY)
    assert forged.runtime_error == (
        "the program tampered with its result: output fake.png is a PNG without an end"
    )


def test_without_the_entry_the_output_is_refused_everywhere() -> None:
    assert registry.by_suffix(f"{'0' * 32}_fake.png") is None
    assert not registry.known("fake.png")
    message = {**RunResult("u", "r").to_json(), "outputs": {"fake.png": ""}}
    with pytest.raises(Exception, match="unknown outputs"):
        RunResult.from_json(message)


def test_every_drawn_output_has_a_pass_and_every_pass_an_output() -> None:
    names = {output.name for output in registry.DRAW_OUTPUTS}
    assert {step.output for step in passes.PASSES} <= names
    assert len({step.name for step in passes.PASSES}) == len(passes.PASSES)
    for options in (FiddleOptions(), FiddleOptions(text_only=True), FiddleOptions(animated=True)):
        for output in registry.rendered(RunFacts(options)):
            assert passes.for_output(output.name).output == output.name


def test_names_suffixes_and_labels_are_unique() -> None:
    for task in registry.TASKS:
        listed = registry.for_task(task)
        for field in ("name", "stored", "label"):
            assert len({getattr(output, field) for output in listed}) == len(listed), field
    suffixes = [output.suffix for output in registry.DRAW_OUTPUTS]
    assert len(set(suffixes)) == len(suffixes) and all(suffixes)
    for output in registry.DRAW_OUTPUTS:  # a suffix ending another's still names its own output
        assert registry.by_suffix(f"{'a' * 32}{output.suffix}") == ("a" * 32, output)


# --------------------------------------------------------------------------------------------
# No second list


def registry_words() -> list[str]:
    """What would give away a second list of outputs: stored names and the URL suffixes that
    cannot occur in any other text (".pdf" can: a download is named fiddle.pdf)."""
    outputs = (*registry.DRAW_OUTPUTS, *registry.IMAGE_OUTPUTS, *registry.DIFF_OUTPUTS)
    return [o.stored for o in outputs] + [o.suffix for o in outputs if o.suffix.startswith("_")]


def sources() -> list[Path]:
    found = [*ROOT.glob("templates/*.html"), *ROOT.glob("site/src/*.js"), *ROOT.glob("scripts/*")]
    for package in ("functions", "runner_vm", "fiddle_protocol"):
        found += (ROOT / package).rglob("*.py")
    return sorted(p for p in found if p.is_file() and p != ROOT / "fiddle_protocol/outputs.py")


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_other_file_lists_an_output(path: Path) -> None:
    text = path.read_text(errors="replace")
    assert [word for word in registry_words() if word in text] == []
    # Nor builds one from a pattern of them (f"thumb{size}.png"; the built-in images' own files,
    # "<id>.thumb<size>.png", are no output).
    assert not re.search(r"[\"']thumb\{", text)


# --------------------------------------------------------------------------------------------
# Passes that failed alone


def genuine_outputs(options: FiddleOptions) -> dict[str, bytes]:
    return execute.run(RunRequest("u", DRAW, options)).outputs


@pytest.mark.parametrize(
    "failed, dropped, succeeded, why",
    [
        ({"pdf"}, {"pdf.pdf"}, True, None),
        ({"pdf", "skp"}, {"pdf.pdf", "skp.skp"}, True, None),
        (set(), {"pdf.pdf"}, True, "output pdf.pdf is missing"),
        ({"pdf"}, set(), True, "output pdf.pdf is not one this run produces"),
        ({"pdf"}, {"pdf.pdf", "skp.skp"}, True, "output skp.skp is missing"),
        ({"raster"}, {"cpu.png"}, True,
         "its output_errors name raster, whose failure fails the run"),
        ({"gpu"}, set(), True, "its output_errors name 'gpu', which is no output this run renders"),
        ({"x"}, set(), True, "its output_errors name 'x', which is no output this run renders"),
        ({"pdf"}, {"cpu.png", "pdf.pdf", "skp.skp"}, False,
         "its output_errors name 'pdf', which is no output this run renders"),
    ],
)  # fmt: skip
def test_a_run_may_lack_only_the_outputs_whose_pass_failed_alone(
    failed: set[str], dropped: set[str], succeeded: bool, why: str | None
) -> None:
    options = FiddleOptions(width=16, height=16)
    produced = {k: v for k, v in genuine_outputs(options).items() if k not in dropped}
    facts = RunFacts(options, failed=frozenset(failed))
    assert registry.problem(registry.DRAW, facts, produced, succeeded) == why


def test_a_text_only_run_and_an_upload_have_no_pass_that_fails_alone() -> None:
    text_only = RunFacts(FiddleOptions(text_only=True), "x\n", frozenset({"pdf"}))
    assert registry.problem(registry.DRAW, text_only, {"txt.txt": b"x\n"}, True) == (
        "its output_errors name 'pdf', which is no output this run renders"
    )
    upload = RunFacts(failed=frozenset({"thumbnail64"}))
    assert registry.failure_problem(registry.DECODE_IMAGE, upload, True) == (
        "its output_errors name thumbnail64, whose failure fails the run"
    )


def test_only_the_passes_after_the_raster_may_fail_alone() -> None:
    """The raster pass comes first and fails the run; every other drawn output stands alone (the
    printed text and the GL info are no pass's: the program does not draw them)."""
    drawn = [o for o in registry.DRAW_OUTPUTS if o.kind not in (Kind.TEXT, Kind.INFO)]
    assert drawn[0] is registry.RASTER and not registry.RASTER.stands_alone
    assert all(output.stands_alone for output in drawn[1:])
    assert not any(output.stands_alone for output in registry.IMAGE_OUTPUTS)
