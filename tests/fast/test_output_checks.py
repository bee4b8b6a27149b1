"""The check of every output (fiddle_protocol/outputs.py and checks.py, run by the sandbox host's
verdict) against what the service really renders, and how a stored PDF that carries actions is
served (issue 19, item 6).

Every example of the editor is run in-process (our own code, not hostile) and its genuine outputs
must pass the check; forged ones of each kind must not. A PDF with JavaScript stored before the
check existed is served as a download, since Chromium's viewer runs its script whatever the CSP
(tests/browser/test_pdf_scripts.py shows both in a real browser).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import pytest
from flask import Flask

from fiddle_protocol import checks
from fiddle_protocol import outputs as registry
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from functions.services import services
from runner_vm.child.main import report
from runner_vm.drawing import execute
from runner_vm.host.collect import ChildReport
from runner_vm.host.exchange import RunHeader
from runner_vm.host.framing import encode
from runner_vm.host.verdict import judge
from tests.fast.fakes import POLICY, judged_here

skia = pytest.importorskip("skia")

EXAMPLES = sorted(Path(__file__).resolve().parents[2].glob("site/examples/*.py"))
SCRIPT_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"3 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def source_png(width: int = 64, height: int = 48) -> bytes:
    surface = skia.Surface(width, height)
    surface.getCanvas().clear(skia.ColorGREEN)
    return bytes(surface.makeImageSnapshot().encodeToData())


def run_here(request: RunRequest) -> RunResult:
    return judged_here(request, "r")


def problem(request: RunRequest, produced: dict[str, bytes], text: str = "") -> str | None:
    facts = RunFacts(request.options, text)
    return registry.problem(request.task, facts, produced, succeeded=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
@pytest.mark.parametrize(
    "options", [FiddleOptions(width=256, height=128), FiddleOptions(srgb=True, f16=True)]
)
def test_genuine_outputs_pass(example: Path, options: FiddleOptions) -> None:
    result = run_here(RunRequest("u", example.read_text(), options, source_png()))
    assert result.succeeded and result.limit is None, result.runtime_error
    assert checks.pdf_actions(result.outputs["pdf.pdf"]) == []


def test_genuine_text_only_and_decoded_outputs_pass() -> None:
    code = "print('é\\ud800')\ndef draw(canvas):\n    pass\n"
    result = run_here(RunRequest("u", code, FiddleOptions(text_only=True)))
    assert result.succeeded, result.runtime_error
    assert set(result.outputs) == {"txt.txt"}
    assert result.text == "é\ufffd\n"  # a surrogate becomes U+FFFD, as the functions make it
    for width, height in ((4096, 3), (3, 4096), (300, 150), (1, 1)):
        surface = skia.Surface(width, height)
        data = bytes(surface.makeImageSnapshot().encodeToData(skia.kJPEG, 80))
        decoded = run_here(RunRequest("u", "", source_png=data, task="decode_image"))
        assert decoded.succeeded, (width, height, decoded.runtime_error)
        assert set(decoded.outputs) == {"source.png", "thumb64.png", "thumb128.png", "thumb256.png"}


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int, depth: int = 8, colour: int = 6) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 10))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat + png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, why",
    [
        (png_header(8, 8, depth=3), "has no valid PNG header"),
        (png_header(8, 8, colour=5), "has no valid PNG header"),
        (png_header(0, 8), "has no valid PNG header"),
        (png_header(8, 8)[:20], "is a PNG cut short"),
        (png_header(8, 8)[:-12], "is a PNG without an end"),
        (png_header(16, 8), "is 16x8, not 8x8"),
        (b"GIF89a" + bytes(40), "is not a PNG"),
    ],
)
def test_forged_pngs_are_refused(data: bytes, why: str) -> None:
    request = RunRequest("u", "def draw(canvas):\n    pass\n", FiddleOptions(width=8, height=8))
    genuine = execute.run(request)
    forged = execute.Outcome(outputs={**genuine.outputs, "cpu.png": data})
    result = judge(ChildReport(encode(report(forged)), 0), RunHeader.of(request, "r"), POLICY)
    assert result.runtime_error == f"the program tampered with its result: output cpu.png {why}"
    assert result.limit and result.limit.kind == "tampered" and not result.outputs


def test_forged_decoded_images_are_refused() -> None:
    decode = RunRequest("u", "", source_png=source_png(300, 150), task="decode_image")
    genuine = execute.run(decode).outputs
    for name, data, why in [
        ("thumb64.png", genuine["thumb128.png"], "is 128x64, not 64x32"),
        ("source.png", png_header(5000, 10), "is 5000x10, larger than any upload may be"),
        ("thumb256.png", b"<html>", "is not a PNG"),
    ]:
        assert problem(decode, {**genuine, name: data}) == f"output {name} {why}"
    missing = {k: v for k, v in genuine.items() if k != "thumb64.png"}
    assert problem(decode, missing) == "output thumb64.png is missing"


# --------------------------------------------------------------------------------------------
# Serving a PDF that carries actions


def store_run(app: Flask, pdf: bytes) -> str:
    fiddles = services(app).fiddles
    digest = uuid.uuid4().hex
    fiddles.save_code(digest, "def draw(canvas):\n    pass\n", FiddleOptions())
    fiddles.save_run(digest, "2026-01-01T00:00:00Z-144.1", {"pdf.pdf": pdf}, "")
    return digest


def test_a_stored_pdf_with_javascript_is_served_as_a_download(app: Flask) -> None:
    client = app.test_client()
    digest = store_run(app, SCRIPT_PDF)
    for path in (f"/i/{digest}.pdf", f"/ai/2026-01-01T00:00:00Z-144.1/{digest}.pdf"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.data == SCRIPT_PDF
        assert answer.headers["Content-Disposition"] == 'attachment; filename="fiddle.pdf"'


def test_a_pdf_skia_made_is_shown_inline(app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/_/run", json={"code": "def draw(canvas):\n    pass\n", "options": {}})
    assert answer.status_code == 200, answer.json
    pdf = client.get(f"/i/{answer.json['fiddleHash']}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert "Content-Disposition" not in pdf.headers
