"""POST /_/run and the content-hash routes, against the runner's drawing code and its host's
verdict in this process (tests/fast/fakes.py). End to end through a real runner in its real
sandbox: tests/test_run_api.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fiddle_protocol.messages import Limit, RunResult
from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.config import Settings
from functions.hashing import fiddle_hash, skia_hash
from functions.runner_client import RunnerBusy
from functions.services import services
from functions.storage.blobstore import BlobStore
from functions.storage.local import LocalBlobStore
from tests.fast.conftest import MakeApp
from tests.fast.fakes import FakeRunner, fast_app, stopped_by
from tests.helpers import EXAMPLE, pixels, render_directly


def run(client: Any, code: str, **options: Any) -> Any:
    return client.post("/_/run", json={"code": code, "options": options})


def stored_names(blobs: BlobStore) -> list[str]:
    """Every object but the built-in source images every store starts with."""
    return [info.name for info in blobs.list("") if not info.name.startswith(BUILTIN_PREFIXES)]


BUILTIN_PREFIXES = ("source/", "thumbnail/")


def test_compile_error_reports_line_and_column_and_stores_code_and_errors_only(
    client: Any, blobs: BlobStore
) -> None:
    code = "def draw(canvas):\n    x = (1 +\n"
    body = run(client, code).json
    assert body["runtime_error"] == ""
    [error] = body["compile_errors"]
    assert error["line"] == 2 and error["col"] >= 1 and "SyntaxError" in error["text"]
    # The code, the alias of its Skia-form hash, and the errors at that build: no run.
    alias = f"alias/{skia_hash(code, FiddleOptions())}"
    digest, runid = body["fiddleHash"], body["runid"]
    failure = f"fiddle/{digest}/{runid}/failed.json"
    assert stored_names(blobs) == [alias, failure, f"fiddle/{digest}/draw.py"]
    record = json.loads(blobs.read(failure).data)
    assert record == {"compile_errors": [error["text"]], "runtime_error": "", "source": 0}
    page = client.get(f"/c/{body['fiddleHash']}")
    assert page.status_code == 200 and b"no stored result" in page.data
    # Compiler style, which Skia's fiddle-sk recognises by its "error:".
    assert error["text"] == f"draw.py:2:{error['col']}: error: SyntaxError: '(' was never closed"
    # No run: Skia's FiddleContext still has a string version.
    stored = client.get(f"/e/{body['fiddleHash']}").json
    assert (stored["version"], stored["runid"], stored["fiddlehash"]) == (
        "",
        None,
        stored["fiddleHash"],
    )


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
    digest = run(client, EXAMPLE).json["fiddleHash"]
    page = client.get(f"/c/{digest}")
    assert page.status_code == 200
    assert b"drawLine" in page.data and f"{digest}_raster.png".encode() in page.data
    # The stand-in runner draws in this process, where no GL context was made: the page says so
    # where the GPU image would be (tests/test_gpu_outputs.py has a runner with a GPU).
    assert b"No GPU on this runner: the sandbox host has no GPU." in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    frame = client.get(f"/iframe/{digest}")
    assert frame.status_code == 200 and "X-Frame-Options" not in frame.headers
    assert b"drawLine" not in frame.data and b"_raster.png" in frame.data
    embed = client.get(f"/e/{digest}")
    assert embed.headers["Access-Control-Allow-Origin"] == "*"
    assert embed.json["code"] == EXAMPLE and embed.json["options"]["width"] == 256
    assert embed.json["outputs"]["cpu.png"].endswith(f"{digest}_raster.png")


def test_unreachable_runner_gives_503_and_stores_nothing(data_dir: Path) -> None:
    """The HTTP client of runners, with nothing listening where the runner should be."""
    from functions.devserver import free_port

    settings = Settings(
        data_dir=data_dir, runners=(f"http://127.0.0.1:{free_port()}",), runner_timeout=2
    )
    client = create_app(settings).test_client()
    answer = run(client, EXAMPLE)
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "runner" in answer.json["error"]
    assert [name for name in stored(data_dir) if not name.startswith(BUILTIN_PREFIXES)] == []


def stored(data_dir: Path) -> list[str]:
    return [info.name for info in LocalBlobStore(data_dir / "blobs").list("")]


def test_a_runner_that_is_down_or_busy_gives_503_or_429_and_stores_nothing(
    client: Any, runner: FakeRunner, blobs: BlobStore
) -> None:
    runner.then(RunnerBusy("every host is busy", retry_after=7))
    busy = run(client, EXAMPLE)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "7"
    assert busy.json == {"error": "Every runner is busy; try again shortly.", "fields": {}}
    runner.down = True
    down = run(client, EXAMPLE)
    assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
    assert down.json == {
        "error": "No runner is available right now; try again shortly.",
        "fields": {},
    }
    assert stored_names(blobs) == []
    runner.down = False
    assert run(client, EXAMPLE).status_code == 200


def test_a_run_stopped_by_a_limit_answers_its_sentence_and_stores_code_and_errors_only(
    client: Any, runner: FakeRunner, blobs: BlobStore
) -> None:
    runner.then(stopped_by(Limit("cpu", 10, "s"), text="started\n"))
    code = "print('started')\ndef draw(canvas):\n    while True: pass\n"
    answer = run(client, code).json
    assert answer["runtime_error"] == "CPU time limit of 10 s exceeded"
    assert answer["text"] == "started\n" and answer["compile_errors"] == []
    alias = f"alias/{skia_hash(code, FiddleOptions())}"
    digest, runid = answer["fiddleHash"], answer["runid"]
    failure = f"fiddle/{digest}/{runid}/failed.json"
    assert stored_names(blobs) == [alias, failure, f"fiddle/{digest}/draw.py"]
    page = client.get(f"/c/{answer['fiddleHash']}")
    assert page.status_code == 200 and b"no stored result" in page.data


def test_a_runner_answer_that_fails_its_checks_is_never_stored(
    client: Any, runner: FakeRunner, blobs: BlobStore
) -> None:
    """A runner's outputs are checked by the functions too: a host compromised inside its
    container cannot store what it likes."""
    forged = {"cpu.png": b"<html>not a png</html>", "pdf.pdf": b"%PDF-", "skp.skp": b"skiapict"}
    runner.then(lambda header: RunResult(header.run_uuid, header.runid, outputs=forged))
    answer = run(client, EXAMPLE)
    assert answer.status_code == 503
    assert stored_names(blobs) == []


def test_the_service_runs_on_the_memory_blob_store(runner: FakeRunner, data_dir: Path) -> None:
    """FIDDLE_BLOB_STORE=memory: the same answers, and nothing written under the data dir."""
    settings = Settings.from_env({"FIDDLE_BLOB_STORE": "memory"}, data_dir=data_dir)
    app = create_app(settings, runner=runner)
    client = app.test_client()
    digest = run(client, EXAMPLE).json["fiddleHash"]
    assert digest == fiddle_hash(EXAMPLE, FiddleOptions())
    assert run(client, EXAMPLE).json["cached"] is True
    png = client.get(f"/i/{digest}_raster.png")
    assert png.status_code == 200 and pixels(png.data) == pixels(render_directly(EXAMPLE, 256, 256))
    assert not (data_dir / "blobs").exists()
    stored = {info.name for info in services(app).blobs.list("")}
    assert f"fiddle/{digest}/draw.py" in stored


# --- both hash forms (issue 18) -----------------------------------------------------------------


def test_every_address_accepts_both_forms_of_the_hash(client: Any, blobs: BlobStore) -> None:
    body = run(client, EXAMPLE).json
    canonical, runid = body["fiddleHash"], body["runid"]
    other = skia_hash(EXAMPLE, FiddleOptions())
    assert canonical == fiddle_hash(EXAMPLE, FiddleOptions()) and other != canonical
    assert "alias/" + other in stored_names(blobs)
    for digest in (canonical, other):
        assert client.get(f"/c/{digest}").status_code == 200
        assert client.get(f"/iframe/{digest}").status_code == 200
        assert client.get(f"/e/{digest}").json["fiddleHash"] == canonical
        assert client.get(f"/e/{digest}/results").status_code == 200
        raster = client.get(f"/i/{digest}_raster.png")
        assert raster.status_code == 200 and raster.data[:4] == b"\x89PNG"
        assert client.get(f"/ai/{runid}/{digest}.pdf").status_code == 200
        oembed = client.get("/oembed", query_string={"url": f"http://localhost/c/{digest}"})
        assert oembed.status_code == 200


def test_a_hash_that_is_no_alias_is_404(client: Any) -> None:
    run(client, EXAMPLE)
    # The Skia form of another code: nothing stored under it, no alias for it.
    stranger = skia_hash(EXAMPLE + "\n# other\n", FiddleOptions())
    for path in (f"/c/{stranger}", f"/e/{stranger}", f"/i/{stranger}_raster.png"):
        assert client.get(path).status_code == 404, path


def test_code_without_a_newline_has_one_hash_and_no_alias(client: Any, blobs: BlobStore) -> None:
    code = "def draw(canvas): canvas.clear(0xFF00FF00)"
    digest = run(client, code).json["fiddleHash"]
    assert digest == skia_hash(code, FiddleOptions())
    assert not [name for name in stored_names(blobs) if name.startswith("alias/")]


@pytest.fixture
def skia_client(make_app: MakeApp, data_dir: Path) -> Any:
    return make_app(Settings.from_env({"FIDDLE_HASH": "skia"}, data_dir=data_dir)).test_client()


def test_fiddle_hash_skia_answers_what_skias_client_computes(skia_client: Any) -> None:
    answer = run(skia_client, EXAMPLE, width=128, height=128).json
    options = FiddleOptions(width=128, height=128)
    assert answer["fiddleHash"] == skia_hash(EXAMPLE, options)
    assert "fiddlehash" not in answer  # Go would read either key: only one may be there
    # Cached and fast answers are in the same form; the fiddle is stored under the canonical one.
    assert (
        run(skia_client, EXAMPLE, width=128, height=128).json["fiddleHash"]
        == (answer["fiddleHash"])
    )
    fast = skia_client.post(
        "/_/run",
        json={"code": EXAMPLE, "options": {"width": 128, "height": 128}, "fast": True},
    ).json
    assert fast["fiddleHash"] == answer["fiddleHash"] and fast["cached"] is True
    stored = skia_client.get(f"/e/{answer['fiddleHash']}").json
    assert stored["fiddleHash"] == fiddle_hash(EXAMPLE, options)


def test_fiddle_hash_skia_answers_compile_errors_with_the_skia_form(skia_client: Any) -> None:
    code = "def draw(canvas):\n    x = (\n"
    answer = run(skia_client, code).json
    assert answer["compile_errors"] and answer["fiddleHash"] == skia_hash(code, FiddleOptions())
    assert skia_client.get(f"/c/{answer['fiddleHash']}").status_code == 200


def test_fiddles_stored_before_aliases_get_them_from_the_backfill(client: Any, app: Any) -> None:
    first, second, third = (EXAMPLE + f"# {i}\n" for i in range(3))
    blobs = services(app).blobs
    for code in (first, second):
        run(client, code)
        blobs.delete(f"alias/{skia_hash(code, FiddleOptions())}")  # as stored by an older version
    run(client, third)
    assert client.get(f"/c/{skia_hash(first, FiddleOptions())}").status_code == 404
    # An answer from storage writes nothing (the hot path stays one read).
    assert run(client, first).json["cached"] is True
    assert client.get(f"/c/{skia_hash(first, FiddleOptions())}").status_code == 404
    # The operator's backfill writes the missing ones, once.
    fiddles = services(app).fiddles
    assert fiddles.backfill_aliases() == {"written": 2, "present": 1, "skipped": 0}
    assert fiddles.backfill_aliases() == {"written": 0, "present": 3, "skipped": 0}
    for code in (first, second):
        assert client.get(f"/i/{skia_hash(code, FiddleOptions())}_raster.png").status_code == 200


def test_fiddle_admin_backfill_aliases(
    runner: FakeRunner, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command reads the store the environment names: here the local one in data_dir."""
    from functions import cli

    blobs = LocalBlobStore(data_dir / "blobs")
    app = fast_app(Settings(data_dir=data_dir), blobs, runner)
    client = app.test_client()
    run(client, EXAMPLE)
    alias = f"alias/{skia_hash(EXAMPLE, FiddleOptions())}"
    services(app).blobs.delete(alias)
    assert cli.main(["admin", "backfill-aliases", "--data-dir", str(data_dir)]) == 0
    assert "1 written, 0 already there, 0 fiddles skipped" in capsys.readouterr().out
    assert alias in stored_names(blobs)


def test_backfill_skips_code_whose_options_do_not_give_its_hash(app: Any) -> None:
    blobs = services(app).blobs
    wrong = "f" * 32
    blobs.write(f"fiddle/{wrong}/draw.py", b"a\nb", metadata=FiddleOptions().to_metadata())
    assert services(app).fiddles.backfill_aliases() == {"written": 0, "present": 0, "skipped": 1}
    assert not list(blobs.list("alias/"))


def test_fiddle_hash_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="FIDDLE_HASH must be fiddle1 or skia"):
        Settings.from_env({"FIDDLE_HASH": "md5"})
    assert Settings.from_env({}).fiddle_hash == "fiddle1"


# --- output answers (issue 18) ------------------------------------------------------------------


def test_text_is_plain_utf8_with_one_charset(client: Any) -> None:
    body = run(client, "def draw(canvas):\n    print('é')\n", textOnly=True).json
    for path in (f"/i/{body['fiddleHash']}.txt", f"/ai/{body['runid']}/{body['fiddleHash']}.txt"):
        answer = client.get(path)
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert answer.data.decode("utf-8") == "é\n"


IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def test_missing_images_answer_404_without_a_body_to_an_img(client: Any) -> None:
    body = run(client, EXAMPLE).json
    digest, runid = body["fiddleHash"], body["runid"]
    missing = [
        f"/i/{digest}_gpu.png",  # not rendered (yet): Skia's fiddle-sk asks for it every time
        f"/i/{'0' * 32}_raster.png",
        f"/ai/{runid}/{digest}_gpu.png",
        f"/i/{digest}_cpu.webm",
        "/s/99999",
    ]
    for path in missing:
        for accept in (IMAGE_ACCEPT, None):
            answer = client.get(path, headers={"Accept": accept} if accept else {})
            assert (answer.status_code, answer.data) == (404, b""), (path, accept)
            assert "application/json" not in answer.content_type


def test_missing_images_answer_their_sentence_when_json_or_html_is_asked_for(client: Any) -> None:
    assert client.get("/s/99999", headers={"Accept": "application/json"}).json == {
        "error": "There is nothing at this address.",
        "fields": {},
    }
    page = client.get(f"/i/{'0' * 32}_raster.png", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404 and b"<html" in page.data.lower()


def test_a_still_fiddle_keeps_its_duration_but_its_program_sees_0(client: Any) -> None:
    """Skia's editor keeps a duration when animation is switched off, and hashes it."""
    code = "def draw(canvas):\n    print(duration)\n"
    kept = run(client, code, textOnly=True, duration=2.5).json
    plain = run(client, code, textOnly=True).json
    assert kept["text"] == plain["text"] == "0.0\n"
    assert kept["fiddleHash"] == fiddle_hash(code, FiddleOptions(text_only=True, duration=2.5))
    assert kept["fiddleHash"] != plain["fiddleHash"]
    assert client.get(f"/e/{kept['fiddleHash']}").json["options"]["duration"] == 2.5
