"""Warm sandbox hosts and the bounded queue in front of them.

Each host is a long-lived process inside the chosen container; it serves one run at a time by
forking a fresh child, so runs never share a child. A host that dies is replaced.

A run that only sleeps holds its host without using a core, so there are more hosts than cores
(`default_pool_size`), and a run is queued only when it is sure to start within the wall-clock
limit; otherwise it is turned away at once with a time to come back (`PoolBusy`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import select
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from fiddle_protocol.gpu import GpuStatus
from runner_vm.host import framing
from runner_vm.host.exchange import RunHeader, RunSummary
from runner_vm.policy import Policy
from runner_vm.sandbox.base import SandboxBackend, host_command
from runner_vm.sandbox.cgroups import HostCgroups

log = logging.getLogger(__name__)

HOST_START_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 2.0
# A queued run's host must come within the wall clock; this margin covers replacing a dead host.
ACQUIRE_MARGIN_SECONDS = 15.0
# How much each finished run moves the estimate of how long a run holds its host.
DURATION_WEIGHT = 0.2


class HostDied(RuntimeError):
    """The sandbox host stopped answering; the run did not complete."""


class PoolBusy(RuntimeError):
    """Every host is busy and the run could not start in time; come back in `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Where every host is forked. A container launcher that dies with its parent (bwrap's
# --die-with-parent, prctl PR_SET_PDEATHSIG) takes the *thread* that forked it for its parent: a
# host forked from a short-lived thread (one that starts a pool together with others, a run's
# that replaces a dead host) would be killed the moment that thread ended. These threads, made
# once, live as long as the runner.
_LAUNCHER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="host-launcher")


def spawn(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv, **options) (bytes streams), forked from a thread that lives as
    long as the runner."""

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, **options)

    return _LAUNCHER.submit(popen).result()


class HostProcess:
    """One sandbox host of the build in `build_dir` (sandbox/base.py: it sees that build alone).
    `stderr`: where the host's own messages go (the runner's stderr unless given)."""

    def __init__(
        self,
        backend: SandboxBackend,
        policy: Policy,
        index: int,
        build_dir: Path | None = None,
        stderr: IO[bytes] | None = None,
    ) -> None:
        argv = host_command(
            json.dumps(policy.to_json()), index, backend.hides_in_host, backend.host_flags
        )
        self.index = index
        self.policy = policy
        self.cgroups = HostCgroups(policy.limits, index) if backend.host_cgroups else None
        try:
            self.process = spawn(
                backend.wrap(argv, build_dir),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={"PATH": "/usr/bin:/bin", **backend.environment(build_dir)},
                start_new_session=True,
                # Born in its cgroups, so that nothing the host starts is ever outside them.
                preexec_fn=self.cgroups.enter if self.cgroups else None,
            )
        except BaseException:
            if self.cgroups:
                self.cgroups.remove()
            raise
        self.info = self._await_ready()

    def _await_ready(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], HOST_START_TIMEOUT)
        if not ready:
            self.stop()
            raise HostDied("the sandbox host did not start in time")
        try:
            message = framing.read_frame(self.process.stdout.fileno())
        except framing.FrameError as error:
            self.stop()
            raise HostDied(
                f"the sandbox host failed to start (exit {self.process.poll()})"
            ) from error
        return dict(message)

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, header: RunHeader, request: bytes) -> tuple[RunSummary, bytes]:
        """The run's summary and its RunResult's bytes (host/exchange.py). Raises HostDied."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            framing.write_frame(self.process.stdin.fileno(), header.to_json())
            framing.write_bytes_frame(self.process.stdin.fileno(), request)
            return self._read_result(self.process.stdout.fileno())
        except (OSError, framing.FrameError) as error:
            self.stop()
            raise HostDied("the sandbox host died during the run") from error

    def _read_result(self, fd: int) -> tuple[RunSummary, bytes]:
        # The host enforces the wall clock itself; this margin only catches a wedged host.
        deadline = self.policy.limits.wall_clock_seconds + 15
        ready, _, _ = select.select([fd], [], [], deadline)
        if not ready:
            raise framing.FrameError("the sandbox host stopped answering")
        summary = RunSummary.from_json(framing.read_frame(fd))
        return summary, framing.read_frame_body(fd)

    def stop(self) -> None:
        # End of input lets the host and its container wind down by themselves (runsc then
        # removes its own state); a host that does not is killed.
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("sandbox host %d did not exit", self.index)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        if self.cgroups:
            self.cgroups.remove()


class HostPool:
    """N warm hosts of one build; a run waits in a bounded line for a free one, or is turned
    away at once. `indices`: the hosts' indices, which give each its own uids (policy.py), so
    no two hosts of a runner, of whatever build, may share one."""

    def __init__(
        self,
        backend: SandboxBackend,
        policy: Policy,
        size: int,
        max_waiting: int,
        build_dir: Path | None = None,
        indices: Sequence[int] | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.size = size
        self.max_waiting = max_waiting
        self.build_dir = build_dir
        self.indices = list(indices) if indices is not None else list(range(size))
        if len(self.indices) != size:
            raise ValueError(f"a pool of {size} hosts needs {size} host indices")
        self._idle: queue.Queue[HostProcess] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self.replaced = 0
        self.turned_away = 0  # runs answered PoolBusy at once
        self.background_refused = 0  # background runs refused for want of a spare host
        self.typical_seconds = 0.05  # how long a run holds its host, a moving average
        # The GPU the hosts render on, as the last one started said (each host makes its own
        # context, on the same machine and drivers, so they agree).
        self.gpu = GpuStatus(reason="no sandbox host has started yet")

    def start(self) -> None:
        """Start every host (the backend must be prepared); all or none: a host that fails to
        start stops those started before it."""
        # Together: each host spends most of its start waiting for its container and its imports.
        with ThreadPoolExecutor(max_workers=len(self.indices) or 1) as starting:
            attempts = [starting.submit(self._start_one, index) for index in self.indices]
        started = [a.result() for a in attempts if a.exception() is None]
        failure = next((a.exception() for a in attempts if a.exception() is not None), None)
        if failure is not None:
            for host in started:
                host.stop()
            raise failure
        for host in started:
            self.gpu = GpuStatus.from_json(host.info.get("gpu"))
            self._idle.put(host)

    def _start_one(self, index: int) -> HostProcess:
        return HostProcess(self.backend, self.policy, index, self.build_dir)

    @contextlib.contextmanager
    def lease(self, *, background: bool = False) -> Iterator[HostProcess]:
        """A host for one run, taken back after it (replaced if it died). Raises PoolBusy, before
        anything of the run has started, when the run could not start in time, or for a
        background run, when it would take a host an interactive run may want."""
        host = self._acquire_idle() if background else self._acquire()
        started = time.monotonic()
        try:
            if not host.alive():  # it died while idle (killed from outside): never give it a run
                host = self._replace(host)
            yield host
        finally:
            self._note_duration(time.monotonic() - started)
            self._release(host)

    def _acquire(self) -> HostProcess:
        with self._lock:
            self._admit()
            self._waiting += 1
        wait = self.policy.limits.wall_clock_seconds + ACQUIRE_MARGIN_SECONDS
        try:
            return self._idle.get(timeout=wait)
        except queue.Empty as error:
            raise PoolBusy("no sandbox became free in time", self._retry_after(0)) from error
        finally:
            with self._lock:
                self._waiting -= 1

    def _acquire_idle(self) -> HostProcess:
        """A host for a background run: only one idle now, with no run waiting, and (in a pool
        of more than one) another left idle beside it, so an interactive run arriving next
        starts at once. Background runs never wait in line: interactive runs go first."""
        with self._lock:
            spare = 1 if self.size > 1 else 0
            if self._waiting > 0 or self._idle.qsize() <= spare:
                self.background_refused += 1
                raise PoolBusy("no sandbox is free for a background run", self._retry_after(0))
            try:
                return self._idle.get_nowait()
            except queue.Empty as error:  # an interactive run took it since: it goes first
                self.background_refused += 1
                raise PoolBusy("no sandbox is free for a background run", 1) from error

    def _admit(self) -> None:
        """Turn the run away unless it is sure to start within the wall-clock limit.

        Every run ends within the wall clock, so each host frees up for one more run within it:
        with `ahead` runs already waiting for a host, this one is sure to start in time only if
        ahead < hosts. The operator's max_waiting caps the line further.
        """
        ahead = max(0, self._waiting - self._idle.qsize())  # self.waiting, under the lock
        if ahead >= min(self.size, self.max_waiting):
            self.turned_away += 1
            raise PoolBusy("every sandbox is busy", self._retry_after(ahead))

    def _retry_after(self, ahead: int) -> int:
        """Seconds until a host is likely free for one more run: the runs ahead, shared among
        the hosts, each taking as long as runs have lately."""
        rounds = ahead // self.size + 1
        return max(1, math.ceil(rounds * self.typical_seconds))

    def _note_duration(self, seconds: float) -> None:
        with self._lock:
            self.typical_seconds += DURATION_WEIGHT * (seconds - self.typical_seconds)

    def _release(self, host: HostProcess) -> None:
        self._idle.put(host if host.alive() else self._replace(host))

    def _replace(self, host: HostProcess) -> HostProcess:
        host.stop()
        self.replaced += 1
        log.warning("sandbox host %d died; starting a new one", host.index)
        return self._restart(host.index)

    def _restart(self, index: int) -> HostProcess:
        for attempt in range(3):
            try:
                return HostProcess(self.backend, self.policy, index, self.build_dir)
            except HostDied:
                time.sleep(0.5 * (attempt + 1))
        return HostProcess(self.backend, self.policy, index, self.build_dir)

    @property
    def busy(self) -> int:
        return self.size - self._idle.qsize()

    @property
    def waiting(self) -> int:
        """Runs let in that have no host yet."""
        with self._lock:
            return max(0, self._waiting - self._idle.qsize())

    def stop(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


def default_pool_size() -> int:
    """Twice as many hosts as cores, and two more: a host costs little memory while its run
    sleeps, and runs that only sleep must not hold every host while the cores are idle."""
    return 2 * (os.cpu_count() or 1) + 2
