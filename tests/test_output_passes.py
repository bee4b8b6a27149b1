"""Each output pass stands alone (issue 21, items 2 and 3), through POST /_/run and a real runner
in its real sandbox.

draw(canvas) runs once per output: raster, PDF, SKP. An error in the PDF or SKP pass is that
output's error (the run's `output_errors`, the stored run, /e/ and the results area, with the
user's traceback and line), every output that rendered is stored and served, and only the raster
pass failing fails the run. Programs read `fiddle_pass` to tell which pass is drawing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import skia

from fiddle_protocol.options import FiddleOptions
from functions.hashing import fiddle_hash
from functions.storage.local import LocalBlobStore
from runner_vm.drawing import render
from tests.test_run_api import pixels, render_directly, stored_names

# Reading pixels back works on the raster canvas only (README: "What a program sees").
READ_BACK = """
def draw(canvas):
    canvas.drawCircle(16, 16, 10, skia.Paint(Color=skia.ColorBLUE))
    pixels = canvas.toarray()
    print(pixels.shape)
"""
READ_BACK_ERROR = """Traceback (most recent call last):
  File "draw.py", line 4, in draw
    pixels = canvas.toarray()
RuntimeError: Unsupported color type"""
# The plain Python exception, raised only in the PDF pass: it was a SIGSEGV.
PDF_ONLY_ERROR = """
def draw(canvas):
    canvas.drawRect(skia.Rect(4, 4, 28, 28), skia.Paint(Color=skia.ColorRED))
    if fiddle_pass == 'pdf':
        raise ValueError('no PDF today')
"""
# Each pass draws its own colour, so the outputs tell which pass drew them.
PASS_COLOURS = """
print('loading:', fiddle_pass)
COLOURS = {'raster': skia.ColorBLUE, 'skp': skia.ColorGREEN}

def draw(canvas):
    print('drawing:', fiddle_pass)
    if fiddle_pass == 'pdf':
        raise LookupError(fiddle_pass)
    canvas.drawPaint(skia.Paint(Color=COLOURS[fiddle_pass]))
"""


def run(client: Any, code: str, **options: Any) -> Any:
    answer = client.post(
        "/_/run", json={"code": code, "options": {"width": 32, "height": 32, **options}}
    )
    assert answer.status_code == 200, answer.json
    return answer.json


def marker(data_dir: Path, digest: str, runid: str) -> dict[str, Any]:
    blob = LocalBlobStore(data_dir / "blobs").read(f"fiddle/{digest}/{runid}/run.json")
    return dict(json.loads(blob.data))


def played_back(skp: bytes, width: int, height: int) -> bytes:
    """The SKP drawn onto a raster canvas, as its pixels."""
    picture = skia.Picture.MakeFromData(skia.Data.MakeWithCopy(skp))
    assert picture is not None, "not an SKP"

    def draw(canvas: Any) -> None:
        canvas.drawPicture(picture)

    return pixels(render_directly_with(draw, width, height))


def render_directly_with(draw: Any, width: int, height: int) -> bytes:
    return render.raster_png(draw, width, height, srgb=False, f16=False)


def test_reading_pixels_back_fails_only_the_pdf_and_skp(client: Any, data_dir: Path) -> None:
    body = run(client, READ_BACK)
    digest, runid = body["fiddleHash"], body["runid"]
    assert body["runtime_error"] == "" and body["compile_errors"] == []
    assert body["output_errors"] == {"pdf": READ_BACK_ERROR, "skp": READ_BACK_ERROR}
    assert body["text"] == "(32, 32, 4)\n"  # what the raster pass printed, once
    raster = client.get(f"/i/{digest}_raster.png")
    assert raster.status_code == 200
    assert pixels(raster.data) == pixels(render_directly(READ_BACK, 32, 32))
    for suffix in (".pdf", ".skp"):
        assert client.get(f"/i/{digest}{suffix}").status_code == 404
    run_objects = {name for name in stored_names(data_dir) if f"/{runid}/" in name}
    # A GPU canvas has pixels to read back: its pass succeeds where the runner has a GPU.
    on_gpu = {"gpu.png", "glinfo.txt"} if body["gpu"]["available"] else set()
    expected = {"cpu.png", "txt.txt", "run.json", *on_gpu}
    assert {name.rsplit("/", 1)[1] for name in run_objects} == expected
    assert marker(data_dir, digest, runid)["output_errors"] == body["output_errors"]


def test_a_python_error_only_in_the_pdf_pass_is_the_pdfs_error(client: Any) -> None:
    body = run(client, PDF_ONLY_ERROR)
    digest = body["fiddleHash"]
    assert body["runtime_error"] == ""
    assert body["output_errors"] == {
        "pdf": 'Traceback (most recent call last):\n  File "draw.py", line 5, in draw\n'
        "    raise ValueError('no PDF today')\nValueError: no PDF today"
    }
    assert client.get(f"/i/{digest}_raster.png").status_code == 200
    assert client.get(f"/i/{digest}.skp").data.startswith(b"skiapict")
    assert client.get(f"/i/{digest}.pdf").status_code == 404


def test_programs_read_which_pass_is_drawing(client: Any) -> None:
    body = run(client, PASS_COLOURS)
    digest = body["fiddleHash"]
    assert body["text"] == "loading: None\ndrawing: raster\n"
    assert body["output_errors"]["pdf"].endswith("\nLookupError: pdf")
    raster = pixels(client.get(f"/i/{digest}_raster.png").data)
    assert raster == pixels(render_directly_with(_filled(skia.ColorBLUE), 32, 32))
    skp = client.get(f"/i/{digest}.skp").data
    assert played_back(skp, 32, 32) == pixels(
        render_directly_with(_filled(skia.ColorGREEN), 32, 32)
    )


def test_a_text_only_fiddle_draws_in_the_raster_pass(client: Any) -> None:
    code = "def draw(canvas):\n    print(fiddle_pass, canvas.toarray().shape)\n"
    body = run(client, code, textOnly=True)
    assert (body["runtime_error"], body["output_errors"]) == ("", {})
    assert body["text"] == "raster (32, 32, 4)\n"


def _filled(colour: int) -> Any:
    def draw(canvas: Any) -> None:
        canvas.drawPaint(skia.Paint(Color=colour))

    return draw


def test_only_the_raster_pass_fails_the_run(client: Any, data_dir: Path) -> None:
    code = (
        "def draw(canvas):\n    if fiddle_pass == 'raster':\n        canvas.getSurface().nope()\n"
    )
    body = run(client, code)
    assert body["runtime_error"] == (
        'Traceback (most recent call last):\n  File "draw.py", line 3, in draw\n'
        "    canvas.getSurface().nope()\n"
        "AttributeError: 'skia.Surface' object has no attribute 'nope'"
    )
    assert body["output_errors"] == {}
    digest = body["fiddleHash"]
    # The code and the failure's record at the build (what its page shows), no outputs.
    assert sorted(name for name in stored_names(data_dir) if digest in name) == [
        f"fiddle/{digest}/{body['runid']}/failed.json",
        f"fiddle/{digest}/draw.py",
    ]


def test_the_errors_are_kept_with_the_run_and_shown_beside_their_outputs(client: Any) -> None:
    first = run(client, READ_BACK)
    again = run(client, READ_BACK)
    assert again["cached"] is True and again["output_errors"] == first["output_errors"]
    digest = first["fiddleHash"]
    assert digest == fiddle_hash(READ_BACK, FiddleOptions(width=32, height=32))
    fiddle = client.get(f"/e/{digest}").json
    assert fiddle["outputErrors"] == first["output_errors"]
    on_gpu = first["gpu"]["available"]
    names = ["raster", "gpu", "text", "glinfo"] if on_gpu else ["raster", "text"]
    assert [o["name"] for o in fiddle["outputList"]] == names
    for page in (f"/e/{digest}/results", f"/c/{digest}"):
        html = client.get(page).get_data(as_text=True)
        for title, name in (("PDF", "pdf"), ("SKP", "skp")):
            assert f'data-output="{name}" aria-label="{title} not rendered"' in html
        assert "while drawing the PDF, at line 4; the other outputs are kept." in html
        assert "RuntimeError: Unsupported color type</pre>" in html
        # The PDF's view is gone; the raster is shown and offered.
        assert "<object" not in html and "_raster.png" in html


def test_a_limit_hit_in_any_pass_fails_the_run(client: Any, data_dir: Path) -> None:
    code = "def draw(canvas):\n    if fiddle_pass == 'skp':\n        bytearray(4 << 30)\n"
    body = run(client, code)
    assert (body["runtime_error"], body["output_errors"]) == ("memory limit of 1 GiB exceeded", {})
    digest = body["fiddleHash"]
    # The code and the failure's record at the build (what its page shows), no outputs.
    assert sorted(name for name in stored_names(data_dir) if digest in name) == [
        f"fiddle/{digest}/{body['runid']}/failed.json",
        f"fiddle/{digest}/draw.py",
    ]


# The PDF pass keeps its canvas and raises; the SKP pass draws on the kept canvas of the
# aborted document, and the module keeps the exception's frames alive through `kept`.
KEEPS_THE_PDF_CANVAS = """
kept = []

def draw(canvas):
    canvas.drawCircle(16, 16, 8, skia.Paint())
    if fiddle_pass == 'pdf':
        kept.append(canvas)
        raise RuntimeError('kept the page')
    if kept:
        kept[0].drawRect(skia.Rect(1, 1, 5, 5), skia.Paint())
        kept.clear()
"""


def test_native_resources_outlive_whatever_a_pass_keeps(client: Any) -> None:
    body = run(client, KEEPS_THE_PDF_CANVAS)
    assert body["runtime_error"] == "" and list(body["output_errors"]) == ["pdf"]
    assert body["output_errors"]["pdf"].endswith("RuntimeError: kept the page")
    assert client.get(f"/i/{body['fiddleHash']}.skp").data.startswith(b"skiapict")
