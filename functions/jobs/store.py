"""Jobs in the document store, and every change to one as a conditional write.

Each write names the version the writer read (`if_version`: a version column in SQLite, an
update-time precondition in Firestore), so of two writers that read the same version exactly one
succeeds. That settles every race of the job system in one document:

- claiming: a worker takes a queued job (or one whose holder's lease ran out) with one
  conditional write that names it and sets its lease; of two workers racing, the other's write
  conflicts, and it moves on;
- holding: the holder renews its lease and records each finished item with conditional writes;
  a conflict means someone else wrote (a cancel request, or a worker that took over an expired
  lease): the holder reads again and goes on only if the job is still its own;
- cancelling: a request writes `cancel` over the version it read, so it never undoes a finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from functions.docstore.base import Conflict, DocumentStore, NotFound
from functions.jobs.model import (
    CANCEL,
    CANCELLED,
    CANCELLING,
    FINAL_STATES,
    HELD_STATES,
    JOBS,
    MAX_FAILURES_KEPT,
    QUEUED,
    RUNNING,
    Job,
    from_document,
    new_document,
)

Clock = Callable[[], float]


class LeaseLost(Exception):
    """Another worker holds the job now (this one's lease ran out): stop working on it."""


class JobFinished(Exception):
    """The job is done, failed or cancelled already: nothing can change it any more."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} is {job.state} already")
        self.job = job


class JobStore:
    def __init__(self, documents: DocumentStore, clock: Clock = time.time) -> None:
        self.documents = documents
        self.clock = clock

    # --- reading ------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        doc = self.documents.get(JOBS, job_id)
        return None if doc is None else from_document(doc.id, doc.data, doc.version)

    def newest(self, limit: int = 50) -> list[Job]:
        docs = self.documents.query(JOBS, order_by="created", descending=True, limit=limit)
        return [from_document(d.id, d.data, d.version) for d in docs]

    def active(self) -> list[Job]:
        """Jobs that have not ended (queued or held)."""
        docs = self.documents.query(JOBS, where=[("active", "==", True)])
        return [from_document(d.id, d.data, d.version) for d in docs]

    def claimable(self) -> list[Job]:
        """Queued jobs, and held ones whose lease ran out, oldest first."""
        now = self.clock()
        jobs = self.active()
        free = [
            j
            for j in jobs
            if j.state == QUEUED or (j.state in HELD_STATES and j.lease_expired(now))
        ]
        return sorted(free, key=lambda job: (job.created, job.id))

    # --- writing ------------------------------------------------------------------------------

    def create(
        self, kind: str, params: dict[str, Any], items: list[str], who: str, job_id: str = ""
    ) -> Job:
        """A new queued job (under job_id if given: AlreadyExists if there is one)."""
        data = new_document(kind, params, items, who, self.clock())
        doc = (
            self.documents.create(JOBS, job_id, data) if job_id else self.documents.add(JOBS, data)
        )
        return from_document(doc.id, doc.data, doc.version)

    def claim(self, job: Job, worker: str, lease_seconds: float) -> Job | None:
        """Take the job (as read) for worker, or None if someone wrote it since."""
        now = self.clock()
        fields: dict[str, Any] = {
            "worker": worker,
            "lease_until": now + lease_seconds,
            "updated": now,
        }
        if job.state == QUEUED:
            fields["state"] = RUNNING
        try:
            doc = self.documents.update(JOBS, job.id, fields, if_version=job.version)
        except (Conflict, NotFound):
            return None
        return from_document(doc.id, doc.data, doc.version)

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask the worker holding a running one to stop.
        Raises NotFound, or JobFinished for a job that already ended."""
        while True:
            job = self.get(job_id)
            if job is None:
                raise NotFound(f"{JOBS}/{job_id} does not exist")
            if job.final:
                raise JobFinished(job)
            if job.state in (CANCEL, CANCELLING):
                return job
            fields = (
                _finish_fields(CANCELLED, self.clock())
                if job.state == QUEUED
                else {"state": CANCEL}
            )
            try:
                doc = self.documents.update(JOBS, job.id, fields, if_version=job.version)
            except Conflict:
                continue  # written since (claimed, progressed): decide again on what it is now
            return from_document(doc.id, doc.data, doc.version)


class HeldJob:
    """A job as the worker holding it sees it: every write goes through here, one at a time, and
    names the version of the last write, so the worker always knows the job's latest state."""

    def __init__(self, store: JobStore, job: Job, worker: str, lease_seconds: float) -> None:
        self.store = store
        self.worker = worker
        self.lease_seconds = lease_seconds
        self._job = job
        self._lock = threading.Lock()
        self.lost = False

    @property
    def job(self) -> Job:
        with self._lock:
            return self._job

    @property
    def cancel_requested(self) -> bool:
        return self.job.state in (CANCEL, CANCELLING)

    def renew(self) -> Job:
        return self._write(lambda job: {})

    def record(self, index: int, outcome: str, error: str = "", item_error: bool = False) -> Job:
        """Record item `index` as done with its outcome (once: recording it again changes
        nothing), keeping its error among the first failures."""

        def change(job: Job) -> dict[str, Any]:
            if index in job.done:
                return {}
            counts = dict(job.counts)
            counts[outcome] = counts.get(outcome, 0) + 1
            fields: dict[str, Any] = {"done": sorted(job.done | {index}), "counts": counts}
            if error and len(job.failures) < MAX_FAILURES_KEPT:
                failure = {"item": job.items[index], "outcome": outcome, "error": error}
                fields["failures"] = [*job.failures, failure]
            return fields

        return self._write(change)

    def note_cancelling(self) -> Job:
        return self._write(lambda job: {"state": CANCELLING} if job.state == CANCEL else {})

    def finish(self, state: str, error: str = "") -> Job:
        def change(job: Job) -> dict[str, Any]:
            return {**_finish_fields(state, self.store.clock()), "error": error}

        return self._write(change)

    def release(self) -> Job:
        """Give the job up unfinished (the worker is stopping): any worker may claim it now."""
        return self._write(lambda job: {}, lease_until=0.0)

    def _write(
        self, change: Callable[[Job], dict[str, Any]], lease_until: float | None = None
    ) -> Job:
        """Apply change(job) with the lease renewed, over the version last seen; on a conflict
        read again and retry while the job is still this worker's."""
        with self._lock:
            while True:
                now = self.store.clock()
                lease = now + self.lease_seconds if lease_until is None else lease_until
                fields = {**change(self._job), "lease_until": lease, "updated": now}
                if fields.get("state") in FINAL_STATES:
                    fields["lease_until"] = 0.0
                try:
                    doc = self.store.documents.update(
                        JOBS, self._job.id, fields, if_version=self._job.version
                    )
                except Conflict:
                    self._job = self._read_again()
                    continue
                except NotFound:
                    self.lost = True
                    raise LeaseLost(f"job {self._job.id} was deleted") from None
                self._job = from_document(doc.id, doc.data, doc.version)
                return self._job

    def _read_again(self) -> Job:
        job = self.store.get(self._job.id)
        if job is None or job.worker != self.worker or job.final:
            self.lost = True
            raise LeaseLost(f"job {self._job.id} is no longer held by {self.worker}")
        return job


def _finish_fields(state: str, now: float) -> dict[str, Any]:
    return {"state": state, "active": False, "finished": now, "lease_until": 0.0, "updated": now}
