"""Deleting a source image through the purge-source job (issue 17, item 3): the request takes the
image away at once and answers 202 with the job; a worker (a thread here, a `fiddle worker`
process killed with SIGKILL mid-purge there) withdraws every run rendered from it, one fiddle per
item, on SQLite and on the Firestore emulator.

The dependent runs are stored through the real storing protocol (functions/source_runs.py) with
outputs of realistic sizes, as a runner's would be: hundreds of sandboxed runs would test the
runner, not the purge (tests/test_source_deletion.py deletes images under real runs)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from fiddle_protocol import outputs as registry
from fiddle_protocol.options import FiddleOptions
from functions.fiddles import WITHDRAWN, SourceRef
from functions.hashing import fiddle_hash
from functions.services import services
from functions.sources import SOURCES
from functions.storage import layout
from functions.storage.layout import SOURCE_USES
from tests.firestore_emulator import (  # noqa: F401 - fixtures
    _firestore_session_client,
    firestore_client,
    firestore_emulator,
)
from tests.helpers import purged
from tests.test_jobs import admin_headers, backend, eventually, make_app, worker_process  # noqa: F401

# Nobody listens there: the purge needs no runner, and the worker's look for new builds fails.
NO_RUNNER = "http://127.0.0.1:9"
BUILDS = ("2026-01-01T00:00:00Z-1.0", "2026-02-01T00:00:00Z-2.0")
SIZES = {".png": 3000, ".pdf": 1500, ".skp": 900, ".txt": 20}
Run = tuple[str, str]


def output_names() -> list[str]:
    return [o.stored for o in registry.DRAW_OUTPUTS if Path(o.stored).suffix in SIZES]


def stored_source(app: Flask, source_id: int, fiddles: int, builds: int = 1) -> list[Run]:
    """An uploaded image `source_id` with `fiddles` fiddles rendered from it at `builds` builds,
    each run stored through the storing protocol: (hash, runid) of every run."""
    built = services(app)
    built.blobs.write(layout.source(source_id), os.urandom(2000), content_type="image/png")
    built.blobs.write(layout.thumbnail(source_id, 64), b"thumb", content_type="image/png")
    built.documents.create(SOURCES, str(source_id), {"creator": "alice", "time": time.time()})
    generation = built.fiddles.source_generation(source_id)
    assert generation is not None
    outputs = {name: os.urandom(SIZES[Path(name).suffix]) for name in output_names()}
    runs = []
    for index in range(fiddles):
        code = f"def draw(canvas):  # {source_id} {index}\n    canvas.drawImage(image, 0, 0)\n"
        options = FiddleOptions(source=source_id)
        digest = fiddle_hash(code, options)
        built.fiddles.save_code(digest, code, options)
        for runid in BUILDS[:builds]:
            ref = SourceRef(source_id, generation)
            built.source_runs.store(digest, runid, outputs, "", ref)
            runs.append((digest, runid))
    return runs


def run_state(app: Flask, run: Run) -> str:
    """`withdrawn`, `intact` (its commit marker and every output it names), or what else is
    there: the state a reader of the store finds, read outputs first, then the marker (the
    purge changes the marker first, so a commit marker read after the outputs vouches for them)."""
    store, (digest, runid) = services(app).blobs, run
    present = {info.name for info in store.list(layout.run_prefix(digest, runid))}
    marker = store.read(layout.run_marker(digest, runid))
    if WITHDRAWN in marker.metadata:
        return "withdrawn"
    named = {layout.output(digest, runid, name) for name in json.loads(marker.data)["outputs"]}
    return "intact" if named <= present else f"half-deleted: {sorted(named - present)} missing"


def registrations(app: Flask, source_id: int) -> list[Any]:
    return services(app).documents.query(SOURCE_USES, where=[("source", "==", source_id)])


def delete(app: Flask, source_id: int) -> Any:
    return app.test_client().delete(f"/_/source/{source_id}", headers=admin_headers(app))


def assert_gone_from_the_pages(app: Flask, source_id: int, runs: list[Run]) -> None:
    client = app.test_client()
    assert source_id not in [s["id"] for s in client.get("/_/sources").json["sources"]]
    assert client.get(f"/s/{source_id}").status_code == 404
    for digest, runid in runs[:: max(1, len(runs) // 10)]:
        assert client.get(f"/ai/{runid}/{digest}_raster.png").status_code == 404
        assert client.get(f"/e/{digest}").json["runid"] is None


# --------------------------------------------------------------------------------------------


def test_a_source_with_many_dependent_runs_is_purged_through_the_job(
    tmp_path: Path,
    backend: dict[str, str],  # noqa: F811
) -> None:
    app = make_app(tmp_path / "data", NO_RUNNER, **backend)
    runs = stored_source(app, 7, fiddles=120, builds=2)
    other = stored_source(app, 8, fiddles=3)
    started = time.monotonic()
    answer = delete(app, 7)
    assert answer.status_code == 202 and time.monotonic() - started < 5
    assert answer.json["deleted"] == 7 and len(answer.json["fiddles"]) == 120
    assert answer.json["job"]["state"] == "queued" and answer.json["job"]["kind"] == "purge-source"
    assert_gone_from_the_pages(app, 7, runs)  # at once, before any worker did anything
    assert {run_state(app, run) for run in runs} == {"intact"}
    again = delete(app, 7)  # while it is queued: the same job, not a second one
    assert again.status_code == 202 and again.json["job"]["id"] == answer.json["job"]["id"]
    job = purged(app, answer)
    assert job["state"] == "done" and job["progress"]["counts"] == {"ok": 120}
    assert {run_state(app, run) for run in runs} == {"withdrawn"}
    assert registrations(app, 7) == []
    assert {run_state(app, run) for run in other} == {"intact"}
    assert len(registrations(app, 8)) == 3
    assert delete(app, 7).status_code == 404
    audit = [e for e in services(app).audit.newest() if e.action == "delete_source"]
    assert audit and audit[0].details["job"] == job["id"]


def test_a_worker_killed_mid_purge_leaves_no_half_deleted_run_and_another_resumes(
    tmp_path: Path,
    backend: dict[str, str],  # noqa: F811
) -> None:
    app = make_app(tmp_path / "data", NO_RUNNER, **backend)
    runs = stored_source(app, 9, fiddles=200)
    answer = delete(app, 9)
    job_id = answer.json["job"]["id"]
    first = worker_process(tmp_path / "data", NO_RUNNER, backend)
    try:
        eventually(lambda: len(services(app).jobs.get(job_id).done) >= 20, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed = services(app).jobs.get(job_id)
    assert killed.state == "running" and 20 <= len(killed.done) < 200
    states = [run_state(app, run) for run in runs]
    assert set(states) <= {"withdrawn", "intact"}, [s for s in states if s.startswith("half")]
    assert "intact" in states and "withdrawn" in states
    second = worker_process(tmp_path / "data", NO_RUNNER, backend)
    try:
        final = eventually(lambda: (job := services(app).jobs.get(job_id)).final and job)
    finally:
        second.terminate()
        second.wait(10)
    assert final.state == "done" and final.worker != killed.worker
    counts = final.counts
    # Items recorded before the kill are not done again; the one in flight (one at a time) may
    # have finished unrecorded, and is then found purged and skipped.
    assert counts.get("ok", 0) + counts.get("skipped", 0) == 200 and counts.get("skipped", 0) <= 1
    assert {run_state(app, run) for run in runs} == {"withdrawn"}
    assert registrations(app, 9) == []


def test_a_reader_never_sees_a_run_marker_without_its_outputs(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", NO_RUNNER)
    runs = stored_source(app, 10, fiddles=150)
    seen: dict[str, int] = {}
    purging = threading.Event()

    def read() -> None:
        while not purging.is_set():
            time.sleep(0.001)
        while purging.is_set():
            for run in runs:
                state = run_state(app, run)
                seen[state] = seen.get(state, 0) + 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        answer = delete(app, 10)
        purging.set()
        assert purged(app, answer)["progress"]["counts"] == {"ok": 150}
    finally:
        purging.clear()
        reader.join(60)
    assert set(seen) <= {"withdrawn", "intact"}, seen
    assert seen.get("intact") and seen.get("withdrawn"), seen  # it read while the job ran


def test_bad_deletions_say_why_and_start_no_job(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", NO_RUNNER)
    client, root = app.test_client(), admin_headers(app)
    services(app).sources.seed_builtins()
    unknown = client.delete("/_/source/99999", headers=root)
    assert unknown.status_code == 404
    assert unknown.json["error"] == "There is no source image 99999."
    builtin = client.delete("/_/source/1", headers=root)
    assert builtin.status_code == 409
    assert builtin.json["error"] == "Source image 1 is built in and cannot be deleted."
    assert client.get("/s/1").status_code == 200
    services(app).accounts.create_user("alice", "alice-password")
    alice = {"Authorization": f"Bearer {services(app).accounts.create_token('alice', 't')}"}
    stored_source(app, 7, fiddles=1)
    assert client.delete("/_/source/7", headers=alice).status_code == 403
    assert client.get("/s/7").status_code == 200
    by_hand = client.post("/_/jobs", json={"kind": "purge-source", "params": {"source": 7}},
                          headers=root)  # fmt: skip
    assert by_hand.status_code == 400 and "DELETE /_/source/<id>" in by_hand.json["error"]
    assert services(app).jobs.newest() == []
