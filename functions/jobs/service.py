"""Jobs as the routes, the command line and the worker use them: start one (checked, its items
listed), read them, cancel one; and the watch that starts a rerun-named job when a new Skia
build becomes HEAD."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fiddle_protocol import versions
from functions import errors
from functions.docstore.base import AlreadyExists, Conflict, DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.jobs.kinds import JobKinds
from functions.jobs.model import MAX_ITEMS, PURGE_SOURCE, RERUN_NAMED, Job
from functions.jobs.store import JobFinished, JobStore
from functions.runner_client import RunnerClient, RunnerUnavailable

log = logging.getLogger(__name__)
JOBS_META = "jobs_meta"
SEEN_BUILDS = "seen_builds"
NEW_BUILD = "(new build)"
# How often the worker asks the runners for their builds again.
BUILD_CHECK_SECONDS = 5.0


def _no_job(job_id: str) -> errors.NotFound:
    return errors.NotFound(f"There is no job {job_id[:40]}.")


class Jobs:
    def __init__(self, store: JobStore, kinds: JobKinds, wake: Callable[[], None] = lambda: None):
        self.store = store
        self.kinds = kinds
        self.wake = wake

    def start(self, kind: object, params: object, who: str, job_id: str = "") -> Job:
        """A new queued job; a 400 (InvalidInput) for an unknown kind or bad parameters, a 503
        when no runner answers (the builds cannot be resolved)."""
        try:
            checked, items = self.kinds.expand(kind, params)
        except RunnerUnavailable as down:
            raise errors.Unavailable(
                "No runner is available to say which Skia builds there are; try again shortly.",
                retry_after=down.retry_after,
            ) from down
        job = self.store.create(str(kind), checked, items, who, job_id)
        self.wake()
        return job

    def purge_source(self, source_id: int, hashes: list[str], who: str) -> Job:
        """The purge-source job for an image already removed (functions/sources.py, withdraw):
        the active one if a deletion already started it, else a new one over `hashes`, the
        fiddles rendered from it (at most MAX_ITEMS: the rest stay registered, and deleting the
        image again once this job has ended starts a job over them; the job says how many)."""
        for job in self.store.active():
            if job.kind == PURGE_SOURCE and job.params.get("source") == source_id:
                return job
        params = {"source": source_id, "left_for_later": max(0, len(hashes) - MAX_ITEMS)}
        job = self.store.create(PURGE_SOURCE, params, hashes[:MAX_ITEMS], who)
        self.wake()
        return job

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id) if _plausible_id(job_id) else None
        if job is None:
            raise _no_job(job_id)
        return job

    def newest(self, limit: int = 50) -> list[Job]:
        return self.store.newest(limit)

    def cancel(self, job_id: str) -> Job:
        """A 404 for no such job, a 409 for one that has ended."""
        if not _plausible_id(job_id):
            raise _no_job(job_id)
        try:
            return self.store.request_cancel(job_id)
        except DocumentNotFound:
            raise _no_job(job_id) from None
        except JobFinished as finished:
            raise errors.Conflict(
                f"Job {job_id} is {finished.job.state} already; only a queued or running job can"
                " be cancelled."
            ) from None


def _plausible_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 200 and "/" not in job_id and not job_id.startswith("__")


class BuildWatch:
    """Starts `rerun-named` at a build that has become HEAD since the watch last looked (the
    builds seen are kept in the document store, so a restart or another worker does not start
    it again; the job's id names the build, so racing workers start it once)."""

    def __init__(self, jobs: Jobs, runner: RunnerClient, documents: DocumentStore) -> None:
        self.jobs = jobs
        self.runner = runner
        self.documents = documents
        self._checked = 0.0

    def __call__(self) -> None:
        if time.monotonic() - self._checked < BUILD_CHECK_SECONDS:
            return
        self._checked = time.monotonic()
        self.runner.forget_builds()
        try:
            builds = self.runner.builds()
        except RunnerUnavailable:
            return
        head = versions.head(builds)
        if head is not None and self._newly_seen(head.runid, [b.runid for b in builds]):
            self._start(head.runid)

    def _newly_seen(self, head: str, runids: list[str]) -> bool:
        """Record the builds seen; True if HEAD is new (not on the very first look)."""
        doc = self.documents.get(JOBS_META, SEEN_BUILDS)
        seen = set(doc.data.get("runids", [])) if doc else set()
        if doc is not None and set(runids) <= seen:
            return False
        data = {"runids": sorted(seen | set(runids))}
        try:
            if doc is None:
                self.documents.create(JOBS_META, SEEN_BUILDS, data)
                return False
            self.documents.update(JOBS_META, SEEN_BUILDS, data, if_version=doc.version)
        except (AlreadyExists, Conflict):
            return False  # another worker recorded it first, and starts the job
        return head not in seen

    def _start(self, runid: str) -> None:
        job_id = "rerun-named-" + runid.replace(":", "")
        try:
            job = self.jobs.start(RERUN_NAMED, {"build": runid}, NEW_BUILD, job_id)
        except AlreadyExists:
            return
        except errors.FiddleError as refused:
            log.error("could not start rerun-named at the new build %s: %s", runid, refused.message)
            return
        log.info(
            "new Skia build %s is HEAD: started job %s over %d named fiddles",
            runid,
            job.id,
            job.total,
        )
