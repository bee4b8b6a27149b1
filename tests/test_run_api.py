"""POST /_/run and the content-hash routes end to end, through a real runner in its real sandbox.
The rest of the run API, on the runner's drawing code in process: tests/fast/test_run_api.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from fiddle_protocol.options import FiddleOptions
from functions.hashing import fiddle_hash, skia_hash
from functions.storage.local import LocalBlobStore
from tests.helpers import EXAMPLE, pixels, render_directly


def run(client: Any, code: str, **options: Any) -> Any:
    return client.post("/_/run", json={"code": code, "options": options})


def stored_names(data_dir: Path) -> list[str]:
    """Every object but the built-in source images every store starts with."""
    names = [info.name for info in LocalBlobStore(data_dir / "blobs").list("")]
    return [name for name in names if not name.startswith(BUILTIN_PREFIXES)]


BUILTIN_PREFIXES = ("source/", "thumbnail/")


def test_the_example_renders_the_same_pixels_as_skia_directly(client: Any) -> None:
    answer = run(client, EXAMPLE, width=256, height=256)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["compile_errors"] == [] and body["runtime_error"] == ""
    assert body["fiddleHash"] == fiddle_hash(EXAMPLE, FiddleOptions())
    image = client.get(f"/i/{body['fiddleHash']}_raster.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert pixels(image.data) == pixels(render_directly(EXAMPLE, 256, 256))


def test_every_output_is_served_by_hash_and_by_run(client: Any) -> None:
    code = (
        "def draw(canvas):\n"
        "    canvas.drawCircle(32, 32, 20, skia.Paint(Color=skia.ColorBLUE))\n"
        "    print('hi')\n"
    )
    body = run(client, code, width=64, height=64).json
    digest, runid = body["fiddleHash"], body["runid"]
    assert body["text"] == "hi\n"
    assert client.get(f"/i/{digest}.pdf").data.startswith(b"%PDF")
    assert client.get(f"/i/{digest}.skp").data.startswith(b"skiapict")
    assert client.get(f"/i/{digest}.txt").data == b"hi\n"
    by_run = client.get(f"/ai/{runid}/{digest}_raster.png")
    assert by_run.status_code == 200
    assert by_run.data == client.get(f"/i/{digest}_raster.png").data
    assert "immutable" in by_run.headers["Cache-Control"]


def test_objects_are_stored_as_the_layout_names_them(client: Any, data_dir: Path) -> None:
    body = run(client, EXAMPLE, width=100, height=100).json
    digest, runid = body["fiddleHash"], body["runid"]
    names = set(stored_names(data_dir))
    assert f"fiddle/{digest}/draw.py" in names
    for output in ("cpu.png", "pdf.pdf", "skp.skp"):
        assert f"fiddle/{digest}/{runid}/{output}" in names
    blob = LocalBlobStore(data_dir / "blobs").read(f"fiddle/{digest}/draw.py")
    assert blob.data.decode() == EXAMPLE
    assert FiddleOptions.from_metadata(blob.metadata).width == 100


def test_a_repeated_run_is_answered_from_storage(client: Any, runner_url: str) -> None:
    code = "def draw(canvas):\n    canvas.drawRect(skia.Rect(4, 4, 20, 20), skia.Paint())\n"
    first = run(client, code, width=32, height=32).json
    runs_before = runner_runs(runner_url)
    second = run(client, code, width=32, height=32).json
    assert second["fiddleHash"] == first["fiddleHash"]
    assert second["cached"] is True and first["cached"] is False
    assert runner_runs(runner_url) == runs_before


def test_fast_answers_a_stored_fiddle_without_running(client: Any, runner_url: str) -> None:
    code = "def draw(canvas):\n    canvas.drawPoint(3, 3, skia.Paint())\n"
    run(client, code, width=16, height=16)
    runs_before = runner_runs(runner_url)
    answer = client.post(
        "/_/run", json={"code": code, "options": {"width": 16, "height": 16}, "fast": True}
    )
    assert answer.json["cached"] is True
    assert runner_runs(runner_url) == runs_before


def runner_runs(runner_url: str) -> float:
    metrics = requests.get(f"{runner_url}/metrics", timeout=5).text
    for line in metrics.splitlines():
        if line.startswith('fiddle_runner_events_total{event="cleanup"}'):
            return float(line.split()[-1])
    return 0.0


def test_runtime_error_shows_only_the_users_frames(client: Any, data_dir: Path) -> None:
    code = "def helper():\n    return 1 / 0\n\ndef draw(canvas):\n    helper()\n"
    answer = run(client, code)
    assert answer.status_code == 200
    error = answer.json["runtime_error"]
    assert 'File "draw.py", line 5, in draw' in error
    assert 'File "draw.py", line 2, in helper' in error
    assert error.endswith("ZeroDivisionError: division by zero")
    assert "runner_vm" not in error and "execute.py" not in error
    digest, runid = answer.json["fiddleHash"], answer.json["runid"]
    alias = f"alias/{skia_hash(code, FiddleOptions())}"
    failure = f"fiddle/{digest}/{runid}/failed.json"
    assert stored_names(data_dir) == [alias, failure, f"fiddle/{digest}/draw.py"]


@pytest.mark.parametrize("options", [{"srgb": True}, {"srgb": True, "f16": True}])
def test_color_space_options_render(client: Any, options: dict[str, Any]) -> None:
    body = run(client, EXAMPLE, width=64, height=64, **options).json
    assert body["runtime_error"] == ""
    assert client.get(f"/i/{body['fiddleHash']}_raster.png").status_code == 200
