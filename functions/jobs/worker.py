"""The worker: it polls for jobs (backing off while there are none), claims one with a
conditional write, and does its pending items a few at a time, each a background run that
yields to interactive ones, recording each item in the job as it finishes.

While it holds a job a heartbeat renews the lease (every third of it). If the worker dies, the
lease runs out and another worker claims the job and does the items not recorded yet; an item in
flight at the death is done again, and answers from storage if its run was stored. A cancel
request is seen at the next write (an item recorded, or the heartbeat): no new item starts,
those in flight are recorded, and the job ends `cancelled` with that progress.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from functions.jobs.kinds import ERROR, JobFailed, JobKinds, RetryLater
from functions.jobs.model import CANCEL, CANCELLED, DONE, FAILED, Job
from functions.jobs.store import HeldJob, JobStore, LeaseLost

log = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class WorkerSettings:
    lease_seconds: float = 30.0
    runs_in_flight: int = 2
    idle_poll_seconds: float = 10.0  # the longest wait between polls when there is nothing
    first_poll_seconds: float = 0.2


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        store: JobStore,
        kinds: JobKinds,
        settings: WorkerSettings | None = None,
        name: str = "",
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.kinds = kinds
        self.settings = settings or WorkerSettings()
        self.name = name or worker_name()
        self.on_idle = on_idle
        self._wake = threading.Event()
        self.stopping = threading.Event()

    def wake(self) -> None:
        """Look for jobs now (a job was just started in this process)."""
        self._wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def run_forever(self) -> None:
        delay = self.settings.first_poll_seconds
        while not self.stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("the job worker failed to poll; trying again")
                worked = False
            delay = (
                self.settings.first_poll_seconds
                if worked
                else min(delay * 2, self.settings.idle_poll_seconds)
            )
            if not worked:
                self._wake.wait(delay)
                self._wake.clear()

    def run_for(self, seconds: float) -> None:
        """Work on jobs until none is free or `seconds` pass (a scheduled call); a job
        unfinished then is given back at once, and the next call resumes it."""
        self.stopping.clear()
        deadline = threading.Timer(seconds, self.stop)
        deadline.start()
        try:
            while not self.stopping.is_set() and self.run_once():
                pass
        finally:
            deadline.cancel()

    def run_once(self) -> bool:
        """Claim one job and work on it until it ends (or is lost); False if none was free."""
        if self.on_idle is not None:
            self.on_idle()
        for job in self.store.claimable():
            claimed = self.store.claim(job, self.name, self.settings.lease_seconds)
            if claimed is not None:
                log.info("worker %s took job %s (%s, %d/%d done)", self.name, claimed.id,
                         claimed.kind, len(claimed.done), claimed.total)  # fmt: skip
                self.work(HeldJob(self.store, claimed, self.name, self.settings.lease_seconds))
                return True
        return False

    # --- one job ------------------------------------------------------------------------------

    def work(self, held: HeldJob) -> None:
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(held, beat), daemon=True)
        heart.start()
        try:
            held.finish(self._outcome(held))
        except LeaseLost as lost:
            log.warning("worker %s: %s", self.name, lost)
            if self.stopping.is_set() and not held.lost:
                _quietly(held.release)
        except JobFailed as failed:
            message = str(failed)
            _quietly(lambda: held.finish(FAILED, message))
        finally:
            beat.set()
            heart.join()

    def _outcome(self, held: HeldJob) -> str:
        if not held.cancel_requested:
            self._do_items(held)
        if held.lost:
            raise LeaseLost(f"job {held.job.id} was taken over")
        if held.cancel_requested:
            held.note_cancelling()
            return CANCELLED
        return DONE

    def _do_items(self, held: HeldJob) -> None:
        slots = threading.Semaphore(self.settings.runs_in_flight)
        failure: list[BaseException] = []
        with ThreadPoolExecutor(
            self.settings.runs_in_flight, thread_name_prefix="job-item"
        ) as pool:
            for index in held.job.pending():
                slots.acquire()
                if held.cancel_requested or held.lost or failure or self.stopping.is_set():
                    slots.release()
                    break
                future = pool.submit(self._do_item, held, index)
                future.add_done_callback(lambda done: _settle(done, failure, slots))
        if failure:
            raise failure[0]
        if self.stopping.is_set() and not held.cancel_requested:
            raise LeaseLost(f"worker {self.name} is stopping; job {held.job.id} waits for another")

    def _do_item(self, held: HeldJob, index: int) -> None:
        job = held.job
        delay = 0.5
        while True:
            if held.lost or held.cancel_requested or self.stopping.is_set():
                return  # not started: stays pending
            try:
                outcome = self.kinds.run_item(job, job.items[index])
                break
            except RetryLater as later:
                time.sleep(min(later.after, delay, MAX_RETRY_SECONDS))
                delay = min(delay * 2, MAX_RETRY_SECONDS)
            except (JobFailed, LeaseLost):
                raise
            except Exception as error:
                log.exception("job %s: item %s failed", job.id, job.items[index])
                held.record(index, ERROR, f"{type(error).__name__}: {error}")
                return
        held.record(index, outcome.kind, outcome.error)
        if held.job.state == CANCEL:
            held.note_cancelling()

    def _heartbeat(self, held: HeldJob, beat: threading.Event) -> None:
        while not beat.wait(self.settings.lease_seconds / 3):
            try:
                job = held.renew()
            except LeaseLost:
                return
            except Exception:
                log.exception("job %s: renewing the lease failed", held.job.id)
                continue
            if job.state == CANCEL:
                _quietly(held.note_cancelling)


def _settle(done: Future[None], failure: list[BaseException], slots: threading.Semaphore) -> None:
    """An item ended: keep what it raised (JobFailed, LeaseLost stop the job), free its slot."""
    error = done.exception()
    if error is not None:
        failure.append(error)
    slots.release()


def _quietly(write: Callable[[], Job]) -> None:
    try:
        write()
    except LeaseLost:
        pass  # another worker holds it now and will finish it
    except Exception:
        log.exception("a job write failed")
