"""Fault injection: the blob store fails between the outputs of one run (fake-gcs-server stopped
mid-commit; a local store whose disk fills up). Nothing half-stored is ever visible, the client
gets a 503 or 507 with one sentence and Retry-After, and the same run succeeds once storage is
back, without restarting the service."""

from __future__ import annotations

import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.builtin_sources import image_path
from functions.config import Settings
from functions.docstore.base import DocStoreFull
from functions.docstore.sqlite import SqliteDocumentStore
from functions.hashing import fiddle_hash
from functions.services import services
from functions.storage.gcs import RETRY_SECONDS, GcsBlobStore, storage_client
from functions.storage.local import LocalBlobStore
from tests.faults import (
    DRAWING,
    GcsServer,
    Tripwire,
    assert_store_error,
    fill,
    run_objects,
    tiny_filesystem,
)

pytestmark = pytest.mark.slow


def _run(client: Any, code: str = DRAWING) -> Any:
    return client.post("/_/run", json={"code": code, "options": {"width": 80, "height": 80}})


def _hash_of(code: str) -> str:
    return fiddle_hash(code, FiddleOptions(width=80, height=80))


def _assert_nothing_shown(client: Any, fiddle_hash: str) -> None:
    assert client.get(f"/i/{fiddle_hash}_raster.png").status_code == 404
    assert client.get(f"/i/{fiddle_hash}.pdf").status_code == 404
    assert services(client.application).fiddles.newest_run(fiddle_hash) is None


def _assert_stored_and_served(client: Any, answer: Any, store: Any) -> None:
    assert answer.status_code == 200, answer.get_json()
    digest, runid = answer.get_json()["fiddleHash"], answer.get_json()["runid"]
    assert f"{runid}/run.json" in run_objects(store, digest)
    image = client.get(f"/i/{digest}_raster.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert client.get(f"/i/{digest}.txt").data == b"stored in parts\n"


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = GcsServer(tmp_path / "gcs")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    yield server
    server.stop()


def test_gcs_stopped_between_outputs_answers_503_and_the_same_run_succeeds_after(
    gcs: GcsServer, runner_url: str, tmp_path: Path
) -> None:
    client_lib = storage_client(gcs.url)
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    client_lib.create_bucket(bucket)
    store = GcsBlobStore(bucket, client_lib)
    app = create_app(
        Settings(data_dir=tmp_path / "data", runners=(runner_url,)),
        blob_store=Tripwire(store, gcs.stop),
    )
    client = app.test_client()

    started = time.monotonic()
    answer = _run(client)
    waited = time.monotonic() - started
    assert_store_error(answer, 503)
    # The store gives up after RETRY_SECONDS of retrying (the library's own default is 120 s).
    assert waited < RETRY_SECONDS + 15, waited

    gcs.start()  # the same port and the same objects
    digest = _hash_of(DRAWING)
    left = run_objects(store, digest)
    assert "draw.py" in left and not any(name.endswith("/run.json") for name in left), left
    assert len(left) == 2, f"the code and the one output stored before the fault: {left}"
    _assert_nothing_shown(client, digest)

    _assert_stored_and_served(client, _run(client), store)


@pytest.fixture
def full_disk_app(tmp_path: Path, runner_url: str) -> Any:
    """An app whose data directory (blobs and SQLite) is a 16 MiB file system of its own."""
    with tiny_filesystem(tmp_path / "small") as data_dir:
        yield data_dir


def test_disk_filling_up_between_outputs_answers_507_and_the_same_run_succeeds_after(
    full_disk_app: Path, runner_url: str
) -> None:
    data_dir = full_disk_app
    filler: list[Path] = []
    store = Tripwire(LocalBlobStore(data_dir / "blobs"), lambda: filler.append(fill(data_dir)))
    app = create_app(Settings(data_dir=data_dir, runners=(runner_url,)), blob_store=store)
    client = app.test_client()

    assert_store_error(_run(client), 507)
    digest = _hash_of(DRAWING)
    left = run_objects(store, digest)
    assert "draw.py" in left and not any(name.endswith("/run.json") for name in left), left
    # Every write is whole or absent: no temporary file is left behind by the failed ones.
    assert list((data_dir / "blobs" / "tmp").iterdir()) == []
    _assert_nothing_shown(client, digest)

    filler[0].unlink()
    _assert_stored_and_served(client, _run(client), store)


def test_on_a_full_disk_every_write_answers_507_and_reads_still_work(
    full_disk_app: Path, runner_url: str
) -> None:
    data_dir = full_disk_app
    app = create_app(Settings(data_dir=data_dir, runners=(runner_url,)))
    client = app.test_client()
    accounts = services(app).accounts
    accounts.create_user("filler", "a long enough password")
    bearer = {"Authorization": f"Bearer {accounts.create_token('filler')}"}
    stored = _run(client, DRAWING)
    assert stored.status_code == 200
    digest = stored.get_json()["fiddleHash"]

    filler = fill(data_dir)
    assert_store_error(_run(client, DRAWING.replace("GREEN", "BLUE")), 507)
    png = image_path(1).read_bytes()
    upload = client.post("/_/upload", data={"upload": (BytesIO(png), "one.png")}, headers=bearer)
    assert_store_error(upload, 507)
    named = client.post("/_/name", json={"name": "full_disk", "hash": digest}, headers=bearer)
    assert_store_error(named, 507)
    # What is stored is still served, and a repeated run is answered from storage.
    assert client.get(f"/i/{digest}_raster.png").status_code == 200
    assert _run(client, DRAWING).get_json()["cached"] is True

    filler.unlink()
    assert _run(client, DRAWING.replace("GREEN", "BLUE")).status_code == 200
    upload = client.post("/_/upload", data={"upload": (BytesIO(png), "one.png")}, headers=bearer)
    assert upload.status_code == 200, upload.get_json()
    named = client.post("/_/name", json={"name": "full_disk", "hash": digest}, headers=bearer)
    assert named.status_code == 200, named.get_json()


def test_sqlite_on_a_full_disk_says_full(full_disk_app: Path) -> None:
    documents = SqliteDocumentStore(full_disk_app / "documents.sqlite3")
    documents.put("notes", "small", {"text": "fits"})
    filler = fill(full_disk_app)
    with pytest.raises(DocStoreFull):
        documents.put("notes", "large", {"text": "x" * 400_000})
    filler.unlink()
    documents.put("notes", "large", {"text": "x" * 400_000})
    assert documents.get("notes", "small") is not None
