"""Deleting a source image while runs rendered from it are in flight (issue 19, item 2).

Real runs in the real sandbox are paused at each step of the storing protocol
(functions/source_runs.py) through its `on_step` seam, the image is deleted there, and the run is
let go: once the deletion has answered, nothing rendered from the image is served or committed,
whichever order the steps fall in. On the local store and on fake-gcs-server.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.config import Settings
from functions.fiddles import WITHDRAWN
from functions.hashing import fiddle_hash
from functions.runner_client import HttpRunnerClient
from functions.services import services
from functions.source_runs import SOURCE_USES, STEPS
from functions.storage.blobstore import BlobStore
from tests.gcs_server import fake_gcs_server, gcs_blob_store  # noqa: F401
from tests.helpers import GENEROUS, USES_IMAGE, bearer, png_bytes, purged, upload

STORES = ["local", "gcs"]


@pytest.fixture(params=STORES)
def app(request: Any, runner_url: str, data_dir: Path) -> Flask:
    store = request.getfixturevalue("gcs_blob_store") if request.param == "gcs" else None
    settings = Settings(data_dir=data_dir, runners=(runner_url,), rate_limits=GENEROUS)
    application = create_app(settings, blob_store=store)
    accounts = services(application).accounts
    accounts.create_user("alice", "alice-password")
    accounts.create_user("root", "root-password", admin=True)
    return application


class Pause:
    """Holds a real run at one step of the storing protocol until released."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, step: str) -> None:
        if step == self.step:
            self.reached.set()
            assert self.release.wait(60), "the test never released the run"


def store_of(app: Flask) -> BlobStore:
    return services(app).fiddles.store  # type: ignore[no-any-return]


def objects_under(app: Flask, digest: str) -> dict[str, dict[str, str]]:
    """Every object of the fiddle, with its metadata."""
    return {info.name: info.metadata for info in store_of(app).list(f"fiddle/{digest}/")}


def assert_nothing_served(app: Flask, digest: str, runid: str) -> None:
    client = app.test_client()
    for suffix in ("_raster.png", ".pdf", ".skp", ".txt"):
        assert client.get(f"/i/{digest}{suffix}").status_code == 404, suffix
        assert client.get(f"/ai/{runid}/{digest}{suffix}").status_code == 404, suffix
    assert client.get(f"/e/{digest}").json["runid"] is None
    page = client.get(f"/c/{digest}")
    assert page.status_code == 200 and b"source image of this fiddle was removed" in page.data
    assert client.get(f"/iframe/{digest}").status_code == 200
    results = client.get(f"/e/{digest}/results")
    assert results.status_code == 200 and b"_raster.png" not in results.data


def assert_no_outputs_stored(app: Flask, digest: str) -> None:
    """The code stays (as for any fiddle); of runs, at most their withdrawal markers."""
    for name, metadata in objects_under(app, digest).items():
        if name != f"fiddle/{digest}/draw.py":
            assert name.endswith("/run.json") and WITHDRAWN in metadata, name


def registrations(app: Flask, source_id: int) -> list[Any]:
    documents = services(app).documents
    return list(documents.query(SOURCE_USES, where=[("source", "==", source_id)]))


@pytest.fixture
def source_id(app: Flask) -> int:
    answer = upload(app.test_client(), bearer(app, "alice"), png_bytes(40, 30))
    assert answer.status_code == 200, answer.json
    return int(answer.json["id"])


def start_paused_run(app: Flask, pool: ThreadPoolExecutor, step: str, source: int) -> Any:
    pause = Pause(step)
    services(app).source_runs.on_step = pause
    body = {"code": USES_IMAGE, "options": {"source": source}}
    future = pool.submit(lambda: app.test_client().post("/_/run", json=body))
    assert pause.reached.wait(60), f"the run never reached {step}"
    return pause, future


def runid_of(app: Flask) -> str:
    return services(app).runner.describe().runid


# Paused before it committed: the run loses, answers 409 and leaves no output behind.
LOSING_STEPS = ["rendered", "registered", "outputs_stored", "checked"]


@pytest.mark.parametrize("step", LOSING_STEPS)
def test_a_deletion_during_a_run_leaves_nothing_of_it(
    app: Flask, source_id: int, step: str
) -> None:
    digest = fiddle_hash(USES_IMAGE, FiddleOptions(source=source_id))
    runid = runid_of(app)
    with ThreadPoolExecutor(1) as pool:
        pause, future = start_paused_run(app, pool, step, source_id)
        # Outputs written but not committed are not served, not even by their run's own URL.
        assert app.test_client().get(f"/ai/{runid}/{digest}_raster.png").status_code == 404
        deleted = app.test_client().delete(f"/_/source/{source_id}", headers=bearer(app, "root"))
        assert_nothing_served(app, digest, runid)  # as soon as the deletion answers
        assert purged(app, deleted)["state"] == "done"
        assert_nothing_served(app, digest, runid)
        pause.release.set()
        answer = future.result(timeout=60)
    assert answer.status_code == 409, answer.json
    assert answer.json["error"] == (
        f"Source image {source_id} was deleted while the fiddle ran, so nothing was stored."
    )
    assert "options.source" in answer.json["fields"]
    assert_nothing_served(app, digest, runid)
    assert_no_outputs_stored(app, digest)
    assert registrations(app, source_id) == []


def test_a_run_committed_just_before_the_deletion_is_withdrawn(app: Flask, source_id: int) -> None:
    digest = fiddle_hash(USES_IMAGE, FiddleOptions(source=source_id))
    runid = runid_of(app)
    with ThreadPoolExecutor(1) as pool:
        pause, future = start_paused_run(app, pool, "committed", source_id)
        assert app.test_client().get(f"/i/{digest}_raster.png").status_code == 200
        assert b"_raster.png" in app.test_client().get(f"/e/{digest}/results").data
        deleted = app.test_client().delete(f"/_/source/{source_id}", headers=bearer(app, "root"))
        assert deleted.json["fiddles"] == [digest]
        assert purged(app, deleted)["progress"]["counts"] == {"ok": 1}
        pause.release.set()
        answer = future.result(timeout=60)
    assert answer.status_code == 200  # it was stored before the deletion began
    assert_nothing_served(app, digest, runid)
    assert_no_outputs_stored(app, digest)
    marker = f"fiddle/{digest}/{runid}/run.json"
    assert WITHDRAWN in objects_under(app, digest)[marker]


def test_every_step_is_covered() -> None:
    assert [*LOSING_STEPS, "committed"] == list(STEPS)


def test_a_deletion_that_stopped_after_removing_the_image_shows_nothing_and_resumes(
    app: Flask, source_id: int
) -> None:
    client, root = app.test_client(), bearer(app, "root")
    answer = client.post("/_/run", json={"code": USES_IMAGE, "options": {"source": source_id}})
    digest, runid = answer.json["fiddleHash"], answer.json["runid"]
    assert client.get(f"/i/{digest}_raster.png").status_code == 200
    store_of(app).delete(f"source/{source_id}")  # the deletion's first step, then a crash
    assert_nothing_served(app, digest, runid)
    resumed = client.delete(f"/_/source/{source_id}", headers=root)
    assert resumed.json["fiddles"] == [digest] and purged(app, resumed)["state"] == "done"
    assert_no_outputs_stored(app, digest)
    assert registrations(app, source_id) == []
    assert client.delete(f"/_/source/{source_id}", headers=root).status_code == 404


def test_runs_stored_by_an_older_version_are_hidden_and_withdrawn(
    app: Flask, source_id: int
) -> None:
    """Markers without their source, registrations without a runid: as stored before."""
    client, store, documents = app.test_client(), store_of(app), services(app).documents
    answer = client.post("/_/run", json={"code": USES_IMAGE, "options": {"source": source_id}})
    digest, runid = answer.json["fiddleHash"], answer.json["runid"]
    marker = f"fiddle/{digest}/{runid}/run.json"
    legacy = {"outputs": ["cpu.png", "txt.txt"], "text": "40 30\n"}
    store.delete(marker)
    store.write(marker, json.dumps(legacy).encode(), content_type="application/json")
    for use in registrations(app, source_id):
        documents.delete(SOURCE_USES, use.id)
    documents.create(SOURCE_USES, f"{source_id}-{digest}", {"source": source_id, "hash": digest})
    assert client.get(f"/i/{digest}_raster.png").status_code == 200
    assert client.get(f"/ai/{runid}/{digest}.txt").data == b"40 30\n"
    assert client.get(f"/ai/{runid}/{digest}.pdf").status_code == 404  # not in its marker
    deleted = client.delete(f"/_/source/{source_id}", headers=bearer(app, "root"))
    assert deleted.json["fiddles"] == [digest] and purged(app, deleted)["state"] == "done"
    assert_nothing_served(app, digest, runid)
    assert_no_outputs_stored(app, digest)


def test_a_source_replaced_under_a_stored_run_hides_it(app: Flask, source_id: int) -> None:
    """A run is shown only with the very image it rendered (its generation), not a new one."""
    client, store = app.test_client(), store_of(app)
    answer = client.post("/_/run", json={"code": USES_IMAGE, "options": {"source": source_id}})
    digest = answer.json["fiddleHash"]
    image = store.read(f"source/{source_id}")
    store.write(f"source/{source_id}", image.data, content_type="image/png")
    assert client.get(f"/i/{digest}_raster.png").status_code == 404


class PausingRunner(HttpRunnerClient):
    """The real runner client, holding each fiddle's result until released: the run has
    rendered in the real sandbox and is about to be stored."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        super().__init__(urls)
        self.pause = Pause("draw")

    def run(self, request: RunRequest) -> RunResult:
        result = super().run(request)
        self.pause(request.task)
        return result


def test_a_deletion_while_the_runner_renders_leaves_nothing(
    runner_url: str, data_dir: Path
) -> None:
    runner = PausingRunner((runner_url,))
    settings = Settings(data_dir=data_dir, runners=(runner_url,), rate_limits=GENEROUS)
    app = create_app(settings, runner=runner)
    services(app).accounts.create_user("alice", "alice-password")
    services(app).accounts.create_user("root", "root-password", admin=True)
    source = upload(app.test_client(), bearer(app, "alice"), png_bytes(40, 30)).json["id"]
    body = {"code": USES_IMAGE, "options": {"source": source}}
    digest = fiddle_hash(USES_IMAGE, FiddleOptions(source=source))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: app.test_client().post("/_/run", json=body))
        assert runner.pause.reached.wait(60)
        deleted = app.test_client().delete(f"/_/source/{source}", headers=bearer(app, "root"))
        assert purged(app, deleted)["state"] == "done"
        runner.pause.release.set()
        answer = future.result(timeout=60)
    assert answer.status_code == 409
    assert_nothing_served(app, digest, runid_of(app))
    assert_no_outputs_stored(app, digest)
