"""The response cache (functions/responsecache.py): what it replays, what it never keeps, and that
whatever this process changes is never replayed stale; first around a small WSGI app of its own,
then in the real app."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response
from werkzeug.test import Client

from functions.responsecache import ResponseCache, replayable
from functions.services import services
from tests.fast.conftest import MakeApp
from tests.helpers import GENEROUS, USES_IMAGE, bearer, png_bytes, upload

CODE = "def draw(canvas):\n    canvas.drawCircle(50, 50, 20, skia.Paint(Color=skia.ColorRED))\n"
NEWER_BUILD = "2099-01-01T00:00:00Z-999.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, route: str, status: int, seconds: float) -> None:
        self.calls.append((route, status))


def small_app(cache: ResponseCache) -> tuple[Flask, list[str]]:
    """A Flask app whose views count their calls: /kept/<n> marks its answer (tagged "t"), /plain
        does not, /missing marks a 404, /cookie marks an answer that sets a cookie, /varies one that
    varies with the cookie, /racing one whose tag is purged while it is made."""
    app, calls = Flask("small"), []

    @app.get("/kept/<int:size>")
    def kept(size: int) -> Response:
        calls.append("kept")
        replayable(10.0, "t")
        return Response(b"x" * size + str(len(calls)).encode(), headers={"X-Made": "app"})

    @app.get("/plain")
    def plain() -> str:
        calls.append("plain")
        return str(len(calls))

    @app.get("/missing")
    def missing() -> Response:
        calls.append("missing")
        replayable(10.0, "t")
        return Response("no", status=404)

    @app.get("/cookie")
    def cookie() -> Response:
        calls.append("cookie")
        replayable(10.0, "t")
        response = Response("c")
        response.set_cookie("who", "you")
        return response

    @app.get("/racing")
    def racing() -> str:
        calls.append("racing")
        replayable(10.0, "t")
        cache.purge("t")  # what the answer shows changed while it was being made
        return "r"

    @app.get("/varies")
    def varies() -> Response:
        calls.append("varies")
        replayable(10.0, "t")
        return Response("v", headers={"Vary": "Cookie"})

    app.wsgi_app = cache.wrap(app.wsgi_app)  # type: ignore[method-assign,assignment]
    return app, calls


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def cache(clock: Clock, recorded: Recorded) -> ResponseCache:
    return ResponseCache(4096, 1024, recorded, clock=clock)


def test_a_marked_answer_is_replayed_whole_without_the_app(
    cache: ResponseCache, recorded: Recorded
) -> None:
    app, calls = small_app(cache)
    client = app.test_client()
    first, again = client.get("/kept/3"), client.get("/kept/3")
    assert calls == ["kept"]
    assert again.data == first.data == b"xxx1" and again.status_code == 200
    assert again.headers["X-Made"] == "app" and again.headers == first.headers
    assert client.get("/kept/3?other").data == b"xxx2", "the query names another answer"
    assert recorded.calls == [("unmatched", 200)], "the replay is counted once, by its route"


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("HEAD", {}),
        ("POST", {}),
        ("GET", {"Range": "bytes=0-1"}),
        ("GET", {"If-None-Match": '"a"'}),
        ("GET", {"If-Modified-Since": "Mon, 30 Nov 2026 00:00:00 GMT"}),
        ("GET", {"Authorization": "Bearer secret"}),
    ],
)
def test_a_request_that_could_change_the_answer_goes_to_the_app(
    cache: ResponseCache, method: str, headers: dict[str, str]
) -> None:
    app, calls = small_app(cache)
    app.add_url_rule("/kept/<int:size>", "kept_post", app.view_functions["kept"], methods=["POST"])
    client = app.test_client()
    client.open("/kept/3", method=method, headers=headers)
    assert len(cache) == 0, f"{method} {headers} kept an answer"
    client.get("/kept/3")
    client.open("/kept/3", method=method, headers=headers)
    assert calls == ["kept"] * 3, f"{method} {headers} was replayed"


@pytest.mark.parametrize("path", ["/plain", "/missing", "/cookie", "/varies"])
def test_only_marked_200s_the_same_for_everyone_are_kept(cache: ResponseCache, path: str) -> None:
    app, calls = small_app(cache)
    client = app.test_client()
    client.get(path)
    client.get(path)
    assert len(calls) == 2 and len(cache) == 0


def test_an_answer_lasts_its_seconds(cache: ResponseCache, clock: Clock) -> None:
    app, calls = small_app(cache)
    client = app.test_client()
    client.get("/kept/1")
    clock.now += 9.9
    client.get("/kept/1")
    assert len(calls) == 1
    clock.now += 0.2
    assert client.get("/kept/1").data == b"x2"


def test_a_purge_forgets_the_tag_and_an_answer_made_across_one_is_not_kept(
    cache: ResponseCache,
) -> None:
    app, calls = small_app(cache)
    client = app.test_client()
    client.get("/kept/1")
    cache.purge("other")
    client.get("/kept/1")
    assert len(calls) == 1, "another tag's purge leaves it"
    cache.purge("t")
    assert client.get("/kept/1").data == b"x2"
    client.get("/racing")
    client.get("/racing")
    assert calls.count("racing") == 2, "an answer purged while it was made was kept"


def test_the_cache_keeps_to_its_sizes(cache: ResponseCache) -> None:
    app, calls = small_app(cache)
    client = app.test_client()
    client.get("/kept/2000")
    assert len(cache) == 0, "larger than the largest answer kept (1024 bytes)"
    for size in range(5):
        client.get(f"/kept/{size}")
    # Each entry counts its body and 1 KiB of bookkeeping: at most 3 fit in 4 KiB.
    assert len(cache) == 3
    calls.clear()
    client.get("/kept/0")
    assert calls == ["kept"], "the oldest went first"


def test_the_tag_index_keeps_only_what_the_cache_still_holds(
    cache: ResponseCache, recorded: Recorded
) -> None:
    """Purges go by an index of tags; answers the cache let go leave it, so it stays bounded."""
    from functions.responsecache import _Entry

    for number in range(5000):
        entry = _Entry("200 OK", [], b"", "r", (f"tag{number}",))
        cache._keep(("h", f"/{number}", ""), entry, 60.0, cache._purges)
    assert len(cache) == 4, "4 KiB holds four answers of 1 KiB bookkeeping"
    assert len(cache._tagged) <= 4 * len(cache) + 1024
    cache.purge("tag4999")
    assert len(cache) == 3


# --- in the app ---------------------------------------------------------------------------------


def run(client: Client, code: str = CODE, **options: Any) -> tuple[str, str]:
    answer = client.post("/_/run", json={"code": code, "options": options})
    assert answer.status_code == 200 and not answer.json["runtime_error"], answer.json
    return answer.json["fiddleHash"], answer.json["runid"]


def requests_counted(app: Flask, route: str) -> float:
    registry = services(app).metrics.registry
    labels = {"route": route, "status": "200"}
    return registry.get_sample_value("fiddle_http_requests_total", labels) or 0.0


def test_outputs_and_fiddle_json_are_replayed_as_the_app_answers(app: Flask) -> None:
    client = app.test_client()
    digest, runid = run(client)
    paths = [f"/i/{digest}_raster.png", f"/ai/{runid}/{digest}_raster.png", f"/e/{digest}"]
    firsts = [client.get(path) for path in paths]
    assert len(services(app).responses) == 3
    for path, first in zip(paths, firsts, strict=True):
        again = client.get(path)
        assert (again.status_code, again.data) == (200, first.data)
        assert again.headers == first.headers
    assert requests_counted(app, "/e/<reference>") == 2, "replays are counted by route"


def test_a_new_run_of_the_fiddle_is_shown_at_once(app: Flask) -> None:
    client = app.test_client()
    digest, runid = run(client)
    assert client.get(f"/e/{digest}").json["runid"] == runid
    assert runid in client.get(f"/i/{digest}_raster.png").headers["ETag"]
    newer = png_bytes()
    services(app).fiddles.save_run(digest, NEWER_BUILD, {"cpu.png": newer}, "")
    assert client.get(f"/e/{digest}").json["runid"] == NEWER_BUILD
    assert client.get(f"/i/{digest}_raster.png").data == newer


def test_an_upload_shows_in_fiddle_json_at_once(make_app: MakeApp) -> None:
    app = make_app(rate_limits=GENEROUS)
    client = app.test_client()
    digest, _ = run(client)
    before = client.get(f"/e/{digest}").json["sources"]
    services(app).accounts.create_user("uploader", "uploader-password")
    new = upload(client, bearer(app, "uploader"), png_bytes()).json["id"]
    after = client.get(f"/e/{digest}").json["sources"]
    assert str(new) not in before and str(new) in after


def test_a_deleted_source_image_is_gone_at_once(make_app: MakeApp) -> None:
    app = make_app(rate_limits=GENEROUS)
    client = app.test_client()
    services(app).accounts.create_user("root", "root-password", admin=True)
    source = upload(client, bearer(app, "root"), png_bytes()).json["id"]
    assert client.get(f"/s/{source}").status_code == 200
    assert client.get(f"/s/{source}?size=64").status_code == 200
    assert len(services(app).responses) == 2
    deleted = client.delete(f"/_/source/{source}", headers=bearer(app, "root"))
    assert deleted.status_code == 202, deleted.json
    assert client.get(f"/s/{source}").status_code == 404
    assert client.get(f"/s/{source}?size=64").status_code == 404


def test_what_can_change_without_this_process_knowing_is_not_kept(make_app: MakeApp) -> None:
    app = make_app(rate_limits=GENEROUS)
    client = app.test_client()
    services(app).accounts.create_user("root", "root-password", admin=True)
    headers = bearer(app, "root")
    digest, _ = run(client)
    named = client.post("/_/name", json={"name": "kept_not", "hash": digest}, headers=headers)
    assert named.status_code == 200, named.json
    source = upload(client, headers, png_bytes()).json["id"]
    with_image, image_run = run(client, USES_IMAGE, source=source)
    built = services(app).responses
    for path in (
        "/e/@kept_not",  # a name can move to another fiddle
        "/i/@kept_not_raster.png",
        f"/e/{with_image}",  # shows at once that its image was deleted
        f"/ai/{image_run}/{with_image}_raster.png",  # withdrawn with the image
        f"/i/{with_image}_raster.png",
    ):
        assert client.get(path).status_code == 200, path
        assert len(built) == 0, f"{path} was kept"
