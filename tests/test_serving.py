"""Serving outputs from the read cache (functions/readcache.py, functions/fiddles.py): what it
keeps, how a withdrawal or a new run made by another process is seen, and the validators and
cache headers of /i/ and /ai/ (functions/routes/media.py). How fast it serves is measured by
`nox -s bench` (scripts/bench_serving.py), not here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from functions.app import create_app
from functions.config import Settings
from functions.fiddles import FiddleRepository
from functions.readcache import ReadCache
from functions.routes.media import BRIEFLY, IMMUTABLE, WITHDRAWABLE
from functions.services import services
from tests.fast.test_sharing import DRAW, GENEROUS, USES_IMAGE, bearer, png_bytes, upload

# A runid later than any real one: a run "by a newer Skia build", stored by another process.
NEWER_RUNID = "2999-01-01T00:00:00Z-999.0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the cache itself ---------------------------------------------------------------------------


def test_the_cache_drops_the_least_recently_used_past_its_size() -> None:
    cache = ReadCache(100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # now b is the least recently used
    cache.put("c", "C", 40)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.size == 80 and len(cache) == 2


def test_the_cache_keeps_nothing_larger_than_itself() -> None:
    cache = ReadCache(100)
    cache.put("small", 1, 10)
    cache.put("huge", 2, 101)
    assert cache.get("huge") is None and cache.get("small") == 1


def test_entries_with_a_deadline_expire() -> None:
    clock = Clock()
    cache = ReadCache(100, clock=clock)
    cache.put("brief", "x", 10, ttl=5)
    cache.put("lasting", "y", 10)
    clock.now += 4.9
    assert cache.get("brief") == "x"
    clock.now += 0.2
    assert cache.get("brief") is None and cache.size == 10
    clock.now += 1e9
    assert cache.get("lasting") == "y"


def test_replacing_and_discarding_keep_the_size_right() -> None:
    cache = ReadCache(100)
    cache.put("a", 1, 30)
    cache.put("a", 2, 50)
    assert cache.size == 50 and cache.get("a") == 2
    cache.discard("a", "never-there")
    assert cache.size == 0 and cache.get("a") is None


def test_many_threads_at_once_leave_the_cache_consistent() -> None:
    cache = ReadCache(1000)

    def work(seed: int) -> None:
        for i in range(2000):
            key = (seed * 7 + i) % 97
            cache.put(key, i, 1 + key % 13)
            cache.get((key + 1) % 97)
            if i % 5 == 0:
                cache.discard(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = [key for key in range(97) if cache.get(key) is not None]
    assert cache.size == sum(1 + key % 13 for key in kept) <= 1000


# --- the service --------------------------------------------------------------------------------


def make_app(runner_url: str, data_dir: Path) -> Flask:
    settings = Settings(
        data_dir=data_dir, runners=(runner_url,), rate_limits=GENEROUS, runs_in_flight_per_client=0
    )
    application = create_app(settings)
    accounts = services(application).accounts
    if accounts.get("root") is None:
        accounts.create_user("root", "root-password", admin=True)
    return application


@pytest.fixture
def app(runner_url: str, data_dir: Path) -> Flask:
    return make_app(runner_url, data_dir)


@pytest.fixture
def other_process(runner_url: str, data_dir: Path, app: Flask) -> Flask:
    """A second app over the same stores, with caches of its own: another Cloud Functions
    instance, or the admin target while the pages target serves."""
    return make_app(runner_url, data_dir)


def stored_run(app: Flask, code: str = DRAW, **options: object) -> tuple[str, str]:
    answer = app.test_client().post("/_/run", json={"code": code, "options": options})
    assert answer.status_code == 200 and not answer.json["runtime_error"], answer.json
    return answer.json["fiddleHash"], answer.json["runid"]


def test_outputs_carry_a_run_based_etag_and_answer_304(app: Flask) -> None:
    digest, runid = stored_run(app)
    client = app.test_client()
    for path in (f"/ai/{runid}/{digest}_raster.png", f"/i/{digest}_raster.png"):
        first = client.get(path)
        assert first.status_code == 200 and first.data.startswith(b"\x89PNG")
        etag = first.headers["ETag"]
        assert etag == f'"{runid}/{digest}/cpu.png"'
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
        assert client.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    other = client.get(f"/ai/{runid}/{digest}.pdf")
    assert other.status_code == 200 and other.headers["ETag"] != etag


def test_a_304_answers_only_for_what_exists(app: Flask) -> None:
    digest, runid = stored_run(app)
    missing = "0" * 32
    headers = {"If-None-Match": "*"}
    client = app.test_client()
    assert client.get(f"/ai/{runid}/{missing}_raster.png", headers=headers).status_code == 404
    # A still fiddle has no video.
    assert client.get(f"/i/{digest}_cpu.webm", headers=headers).status_code == 404
    assert client.get(f"/i/{digest}_raster.png", headers=headers).status_code == 304


def test_cache_headers_say_how_long_an_output_lasts(app: Flask) -> None:
    digest, runid = stored_run(app)
    client = app.test_client()
    assert client.get(f"/ai/{runid}/{digest}.skp").headers["Cache-Control"] == IMMUTABLE
    assert client.get(f"/i/{digest}.skp").headers["Cache-Control"] == BRIEFLY


def test_outputs_of_a_source_image_are_kept_by_no_shared_cache(app: Flask) -> None:
    source = upload(app.test_client(), bearer(app, "root"), png_bytes()).json["id"]
    digest, runid = stored_run(app, USES_IMAGE, source=source)
    client = app.test_client()
    for path in (f"/ai/{runid}/{digest}_raster.png", f"/i/{digest}.txt"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == WITHDRAWABLE


def serves(app: Flask, digest: str, runid: str) -> bool:
    client = app.test_client()
    paths = [f"/i/{digest}_raster.png", f"/ai/{runid}/{digest}_raster.png", f"/i/{digest}.txt"]
    answers = [client.get(path).status_code for path in paths]
    assert len(set(answers)) == 1, answers
    return answers[0] == 200


def test_a_deletion_by_another_process_hides_cached_outputs_at_once(
    app: Flask, other_process: Flask
) -> None:
    source = upload(app.test_client(), bearer(app, "root"), png_bytes()).json["id"]
    digest, runid = stored_run(app, USES_IMAGE, source=source)
    assert serves(app, digest, runid) and serves(app, digest, runid)  # read, then from cache
    assert app.test_client().get(f"/e/{digest}").json["runid"] == runid
    deleted = other_process.test_client().delete(
        f"/_/source/{source}", headers=bearer(other_process, "root")
    )
    assert deleted.status_code == 202 and deleted.json["fiddles"] == [digest]
    assert not serves(app, digest, runid)  # the image is gone: before the job withdraws the run
    assert app.test_client().get(f"/e/{digest}").json["runid"] is None
    answer = app.test_client().get(f"/i/{digest}_raster.png", headers={"If-None-Match": "*"})
    assert answer.status_code == 404


def test_a_deletion_that_only_removed_the_image_hides_cached_outputs(app: Flask) -> None:
    """The image gone but no withdrawal marker written (a deletion that stopped there, or
    another process between its steps): the cached marker is still not trusted."""
    source = upload(app.test_client(), bearer(app, "root"), png_bytes()).json["id"]
    digest, runid = stored_run(app, USES_IMAGE, source=source)
    assert serves(app, digest, runid)
    services(app).blobs.delete(f"source/{source}")
    assert not serves(app, digest, runid)


def add_newer_run(app: Flask, digest: str, runid: str) -> bytes:
    """A run of the fiddle by a newer build, stored through app: its outputs are those of runid
    with the text changed, so which run /i/ serves can be told from the text."""
    fiddles = services(app).fiddles
    run = fiddles.run(digest, runid)
    assert run is not None
    outputs = {name: fiddles.run_output(digest, run, name) or b"" for name in run.outputs}
    outputs["txt.txt"] = b"the newer build\n"
    fiddles.save_run(digest, NEWER_RUNID, outputs, "the newer build\n")
    return outputs["txt.txt"]


def test_a_run_committed_here_is_served_at_once(app: Flask) -> None:
    digest, runid = stored_run(app, "print('old build')\ndef draw(canvas):\n    pass\n")
    client = app.test_client()
    assert client.get(f"/i/{digest}.txt").data == b"old build\n"
    text = add_newer_run(app, digest, runid)
    assert client.get(f"/i/{digest}.txt").data == text
    assert client.get(f"/e/{digest}").json["runid"] == NEWER_RUNID


def test_a_run_committed_elsewhere_is_served_once_the_run_list_expires(
    app: Flask, other_process: Flask
) -> None:
    digest, runid = stored_run(app, "print('old build')\ndef draw(canvas):\n    pass\n")
    fiddles: FiddleRepository = services(app).fiddles
    fiddles.run_list_seconds = 0.5
    client = app.test_client()
    assert client.get(f"/i/{digest}.txt").data == b"old build\n"  # the list is kept now
    text = add_newer_run(other_process, digest, runid)
    assert client.get(f"/i/{digest}.txt").data == b"old build\n"
    # The other run is there by its own URL at once: only the list of runs is kept a while.
    assert client.get(f"/ai/{NEWER_RUNID}/{digest}.txt").data == text
    time.sleep(0.6)
    assert client.get(f"/i/{digest}.txt").data == text


def test_a_fiddle_first_run_elsewhere_is_found_at_once(app: Flask, other_process: Flask) -> None:
    """No empty list of runs is kept: the page target may be asked before the run target
    stored the fiddle's first run."""
    code = "print('first')\ndef draw(canvas):\n    pass\n"
    from fiddle_protocol.options import FiddleOptions
    from functions.hashing import fiddle_hash

    digest = fiddle_hash(code, FiddleOptions())
    client = app.test_client()
    assert client.get(f"/i/{digest}.txt").status_code == 404
    assert client.get(f"/e/{digest}").status_code == 404
    stored_run(other_process, code)
    assert client.get(f"/i/{digest}.txt").data == b"first\n"
    assert client.get(f"/e/{digest}").json["text"] == "first\n"
