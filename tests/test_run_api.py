"""POST /_/run and the content-hash routes, against a real runner in its real sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import skia

from functions.app import create_app
from functions.config import Settings
from functions.hashing import fiddle_hash, skia_hash
from functions.options import FiddleOptions
from functions.services import services
from functions.storage.local import LocalBlobStore
from runner_vm import render

SPEC_EXAMPLE = """import skia

def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorRED, StrokeWidth=10,
                       Style=skia.Paint.kStroke_Style)
    canvas.drawLine(20, 20, 100, 100, paint)
"""


def run(client: Any, code: str, **options: Any) -> Any:
    return client.post("/_/run", json={"code": code, "options": options})


def pixels(png: bytes) -> bytes:
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
    assert image is not None, "not a decodable PNG"
    info = skia.ImageInfo.Make(
        image.width(), image.height(), skia.kRGBA_8888_ColorType, skia.kUnpremul_AlphaType
    )
    buffer = bytearray(info.computeMinByteSize())
    assert image.readPixels(info, buffer, info.minRowBytes())
    return bytes(buffer)


def render_directly(code: str, width: int, height: int) -> bytes:
    namespace: dict[str, Any] = {"skia": skia}
    exec(compile(code, "direct.py", "exec"), namespace)
    return render.raster_png(namespace["draw"], width, height, srgb=False, f16=False)


def stored_names(data_dir: Path) -> list[str]:
    """Every object but the built-in source images every store starts with."""
    names = [info.name for info in LocalBlobStore(data_dir / "blobs").list("")]
    return [name for name in names if not name.startswith(BUILTIN_PREFIXES)]


BUILTIN_PREFIXES = ("source/", "thumbnail/")


def test_spec_example_renders_the_same_pixels_as_skia_directly(client: Any) -> None:
    answer = run(client, SPEC_EXAMPLE, width=256, height=256)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["compile_errors"] == [] and body["runtime_error"] == ""
    assert body["fiddleHash"] == fiddle_hash(SPEC_EXAMPLE, FiddleOptions())
    image = client.get(f"/i/{body['fiddleHash']}_raster.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert pixels(image.data) == pixels(render_directly(SPEC_EXAMPLE, 256, 256))


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


def test_layout_follows_the_spec(client: Any, data_dir: Path) -> None:
    body = run(client, SPEC_EXAMPLE, width=100, height=100).json
    digest, runid = body["fiddleHash"], body["runid"]
    names = set(stored_names(data_dir))
    assert f"fiddle/{digest}/draw.py" in names
    for output in ("cpu.png", "pdf.pdf", "skp.skp"):
        assert f"fiddle/{digest}/{runid}/{output}" in names
    blob = LocalBlobStore(data_dir / "blobs").read(f"fiddle/{digest}/draw.py")
    assert blob.data.decode() == SPEC_EXAMPLE
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


def test_compile_error_reports_line_and_column_and_stores_only_code(
    client: Any, data_dir: Path
) -> None:
    code = "def draw(canvas):\n    x = (1 +\n"
    body = run(client, code).json
    assert body["runtime_error"] == ""
    [error] = body["compile_errors"]
    assert error["line"] == 2 and error["col"] >= 1 and "SyntaxError" in error["text"]
    # The code, and the alias of its Skia-form hash.
    alias = f"alias/{skia_hash(code, FiddleOptions())}"
    assert stored_names(data_dir) == [alias, f"fiddle/{body['fiddleHash']}/draw.py"]
    page = client.get(f"/c/{body['fiddleHash']}")
    assert page.status_code == 200 and b"no stored result" in page.data


def test_runtime_error_shows_only_the_users_frames(client: Any, data_dir: Path) -> None:
    code = "def helper():\n    return 1 / 0\n\ndef draw(canvas):\n    helper()\n"
    answer = run(client, code)
    assert answer.status_code == 200
    error = answer.json["runtime_error"]
    assert 'File "draw.py", line 5, in draw' in error
    assert 'File "draw.py", line 2, in helper' in error
    assert error.endswith("ZeroDivisionError: division by zero")
    assert "runner_vm" not in error and "execute.py" not in error
    digest = answer.json["fiddleHash"]
    alias = f"alias/{skia_hash(code, FiddleOptions())}"
    assert stored_names(data_dir) == [alias, f"fiddle/{digest}/draw.py"]


def test_missing_draw_function_is_a_runtime_error(client: Any) -> None:
    body = run(client, "x = 1\n").json
    assert body["runtime_error"] == "the program does not define a draw(canvas) function"


def test_text_only_fiddle_produces_only_text(client: Any) -> None:
    body = run(client, "def draw(canvas):\n    print('only text')\n", textOnly=True).json
    digest = body["fiddleHash"]
    assert body["text"] == "only text\n"
    assert client.get(f"/i/{digest}.txt").data == b"only text\n"
    assert client.get(f"/i/{digest}_raster.png").status_code == 404


def test_fiddle_page_iframe_and_json(client: Any) -> None:
    digest = run(client, SPEC_EXAMPLE).json["fiddleHash"]
    page = client.get(f"/c/{digest}")
    assert page.status_code == 200
    assert b"drawLine" in page.data and f"{digest}_raster.png".encode() in page.data
    assert b"GPU rendering is not available" in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    frame = client.get(f"/iframe/{digest}")
    assert frame.status_code == 200 and "X-Frame-Options" not in frame.headers
    assert b"drawLine" not in frame.data and b"_raster.png" in frame.data
    embed = client.get(f"/e/{digest}")
    assert embed.headers["Access-Control-Allow-Origin"] == "*"
    assert embed.json["code"] == SPEC_EXAMPLE and embed.json["options"]["width"] == 256
    assert embed.json["outputs"]["cpu.png"].endswith(f"{digest}_raster.png")


def test_unreachable_runner_gives_503_and_stores_nothing(data_dir: Path) -> None:
    from tests.conftest import free_port

    settings = Settings(
        data_dir=data_dir, runners=(f"http://127.0.0.1:{free_port()}",), runner_timeout=2
    )
    client = create_app(settings).test_client()
    answer = run(client, SPEC_EXAMPLE)
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "runner" in answer.json["error"]
    assert stored_names(data_dir) == []


@pytest.mark.parametrize("options", [{"srgb": True}, {"srgb": True, "f16": True}])
def test_color_space_options_render(client: Any, options: dict[str, Any]) -> None:
    body = run(client, SPEC_EXAMPLE, width=64, height=64, **options).json
    assert body["runtime_error"] == ""
    assert client.get(f"/i/{body['fiddleHash']}_raster.png").status_code == 200


def test_the_service_runs_on_the_memory_blob_store(runner_url: str, data_dir: Path) -> None:
    """FIDDLE_BLOB_STORE=memory: the same answers, and nothing written under the data dir."""
    settings = Settings.from_env(
        {"FIDDLE_BLOB_STORE": "memory"}, data_dir=data_dir, runners=(runner_url,)
    )
    app = create_app(settings)
    client = app.test_client()
    digest = run(client, SPEC_EXAMPLE).json["fiddleHash"]
    assert digest == fiddle_hash(SPEC_EXAMPLE, FiddleOptions())
    assert run(client, SPEC_EXAMPLE).json["cached"] is True
    png = client.get(f"/i/{digest}_raster.png")
    assert png.status_code == 200 and pixels(png.data) == pixels(
        render_directly(SPEC_EXAMPLE, 256, 256)
    )
    assert not (data_dir / "blobs").exists()
    stored = {info.name for info in services(app).blobs.list("")}
    assert f"fiddle/{digest}/draw.py" in stored
