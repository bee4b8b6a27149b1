"""The job store's conditional writes on both document stores (SQLite, the Firestore emulator):
one claim wins, a lost lease stops its old holder, records are idempotent, a cancel never undoes
a finish and never loses a record written at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from functions.docstore.base import DocumentStore
from functions.docstore.sqlite import SqliteDocumentStore
from functions.jobs.model import CANCEL, CANCELLED, DONE, QUEUED, RUNNING
from functions.jobs.store import HeldJob, JobFinished, JobStore, LeaseLost
from tests.firestore_emulator import (  # noqa: F401 - fixtures
    _firestore_session_client,
    firestore_client,
    firestore_emulator,
)


@pytest.fixture(params=["sqlite", "firestore"])
def documents(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        store = SqliteDocumentStore(tmp_path / "docs.sqlite3")
        yield store
        store.close()
    else:
        from functions.docstore.firestore import FirestoreDocumentStore

        yield FirestoreDocumentStore(request.getfixturevalue("firestore_client"), prefix="t_")


@pytest.fixture
def jobs(documents: DocumentStore) -> JobStore:
    return JobStore(documents)


def new_job(jobs: JobStore, items: int = 3) -> str:
    return jobs.create("rerun-fiddles", {}, [f"item{i}" for i in range(items)], "root").id


def test_of_many_workers_claiming_one_job_exactly_one_wins(jobs: JobStore) -> None:
    job_id = new_job(jobs)
    (queued,) = jobs.claimable()
    barrier = threading.Barrier(8)

    def claim(i: int) -> str | None:
        barrier.wait()
        claimed = jobs.claim(queued, f"worker{i}", 30)
        return claimed.worker if claimed else None

    with ThreadPoolExecutor(8) as pool:
        winners = [w for w in pool.map(claim, range(8)) if w]
    assert len(winners) == 1
    stored = jobs.get(job_id)
    assert stored is not None and (stored.state, stored.worker) == (RUNNING, winners[0])
    assert jobs.claimable() == []  # held, with its lease running


def test_a_worker_whose_lease_ran_out_loses_the_job_to_another(jobs: JobStore) -> None:
    job_id = new_job(jobs)
    first = HeldJob(jobs, jobs.claim(jobs.claimable()[0], "first", 0.3), "first", 0.3)  # type: ignore[arg-type]
    first.record(0, "ok")
    time.sleep(0.4)
    (expired,) = jobs.claimable()
    assert expired.worker == "first" and expired.state == RUNNING
    second = HeldJob(jobs, jobs.claim(expired, "second", 30), "second", 30)  # type: ignore[arg-type]
    with pytest.raises(LeaseLost):
        first.record(1, "ok")
    assert first.lost
    second.record(1, "ok")
    stored = jobs.get(job_id)
    assert stored is not None and stored.done == {0, 1} and stored.counts == {"ok": 2}
    assert stored.pending() == [2]


def test_recording_an_item_twice_counts_it_once(jobs: JobStore) -> None:
    new_job(jobs)
    held = HeldJob(jobs, jobs.claim(jobs.claimable()[0], "w", 30), "w", 30)  # type: ignore[arg-type]
    held.record(1, "failed", "RuntimeError: no")
    job = held.record(1, "failed", "RuntimeError: no")
    assert job.done == {1} and job.counts == {"failed": 1}
    assert job.failures == ({"item": "item1", "outcome": "failed", "error": "RuntimeError: no"},)


def test_a_queued_job_is_cancelled_at_once_and_a_finished_one_cannot_be(jobs: JobStore) -> None:
    queued = new_job(jobs)
    assert jobs.request_cancel(queued).state == CANCELLED
    assert jobs.claimable() == []
    running = new_job(jobs)
    held = HeldJob(jobs, jobs.claim(jobs.claimable()[0], "w", 30), "w", 30)  # type: ignore[arg-type]
    held.finish(DONE)
    with pytest.raises(JobFinished):
        jobs.request_cancel(running)
    with pytest.raises(JobFinished):
        jobs.request_cancel(queued)
    stored = jobs.get(running)
    assert stored is not None and stored.state == DONE


def test_a_cancel_and_records_written_at_once_all_land(jobs: JobStore) -> None:
    job_id = new_job(jobs, items=20)
    held = HeldJob(jobs, jobs.claim(jobs.claimable()[0], "w", 30), "w", 30)  # type: ignore[arg-type]
    barrier = threading.Barrier(2)

    def record_all() -> None:
        barrier.wait()
        for index in range(20):
            held.record(index, "ok")

    def cancel() -> str:
        barrier.wait()
        time.sleep(0.01)
        return jobs.request_cancel(job_id).state

    with ThreadPoolExecutor(2) as pool:
        recording, cancelling = pool.submit(record_all), pool.submit(cancel)
        recording.result()
        assert cancelling.result() == CANCEL
    stored = jobs.get(job_id)
    assert stored is not None and stored.state == CANCEL and len(stored.done) == 20
    held.renew()  # the holder sees the request at its next write at the latest
    assert held.cancel_requested and held.job.worker == "w"


def test_jobs_list_newest_first(jobs: JobStore) -> None:
    ids = [new_job(jobs) for _ in range(3)]
    assert [job.id for job in jobs.newest()] == ids[::-1]
    assert all(job.state == QUEUED for job in jobs.newest())
