"""Warm sandbox hosts and the bounded queue in front of them.

Each host is a long-lived process inside the chosen container; it serves one run at a time by
forking a fresh child, so runs never share a child. A host that dies is replaced.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
from typing import Any

from runner_vm import framing
from runner_vm.cgroups import HostCgroups
from runner_vm.policy import Policy
from runner_vm.sandbox import SandboxBackend

log = logging.getLogger(__name__)

HOST_START_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 2.0


class HostDied(RuntimeError):
    """The sandbox host stopped answering; the run did not complete."""


class PoolBusy(RuntimeError):
    """Every host is busy and the waiting line is full."""


class HostProcess:
    def __init__(self, backend: SandboxBackend, policy: Policy, index: int) -> None:
        argv = [sys.executable, "-m", "runner_vm.host", json.dumps(policy.to_json()), str(index)]
        self.index = index
        self.policy = policy
        self.cgroups = HostCgroups(policy.limits, index) if backend.host_cgroups else None
        try:
            self.process = subprocess.Popen(
                backend.wrap(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={"PATH": "/usr/bin:/bin", **backend.environment()},
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

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            framing.write_frame(self.process.stdin.fileno(), request)
            return self._read_result(self.process.stdout.fileno())
        except (OSError, framing.FrameError) as error:
            self.stop()
            raise HostDied("the sandbox host died during the run") from error

    def _read_result(self, fd: int) -> dict[str, Any]:
        # The host enforces the wall clock itself; this margin only catches a wedged host.
        deadline = self.policy.limits.wall_clock_seconds + 15
        ready, _, _ = select.select([fd], [], [], deadline)
        if not ready:
            raise framing.FrameError("the sandbox host stopped answering")
        return dict(framing.read_frame(fd))

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
    """N warm hosts; a run waits in a bounded line for a free one, or is turned away."""

    def __init__(
        self, backend: SandboxBackend, policy: Policy, size: int, max_waiting: int
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.size = size
        self.max_waiting = max_waiting
        self._idle: queue.Queue[HostProcess] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self.replaced = 0

    def start(self) -> None:
        self.backend.prepare()
        for index in range(self.size):
            self._idle.put(HostProcess(self.backend, self.policy, index))

    def run(self, request: dict[str, Any], wait_seconds: float = 60.0) -> dict[str, Any]:
        host = self._acquire(wait_seconds)
        try:
            if not host.alive():  # it died while idle (killed from outside): never give it a run
                host = self._replace(host)
            return host.run(request)
        finally:
            self._release(host)

    def _acquire(self, wait_seconds: float) -> HostProcess:
        with self._lock:
            if self._waiting >= self.max_waiting + self.size:
                raise PoolBusy("the run queue is full")
            self._waiting += 1
        try:
            return self._idle.get(timeout=wait_seconds)
        except queue.Empty as error:
            raise PoolBusy("no sandbox became free in time") from error
        finally:
            with self._lock:
                self._waiting -= 1

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
                return HostProcess(self.backend, self.policy, index)
            except HostDied:
                time.sleep(0.5 * (attempt + 1))
        return HostProcess(self.backend, self.policy, index)

    @property
    def busy(self) -> int:
        return self.size - self._idle.qsize()

    def stop(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


def default_pool_size() -> int:
    return os.cpu_count() or 1
