"""The runner: one Skia build, a pool of warm sandbox hosts, lifecycle events around every run."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner_vm import builds, outputs
from runner_vm.containers import BubblewrapBackend, NspawnBackend
from runner_vm.events import Event, EventBus
from runner_vm.policy import Policy
from runner_vm.pool import HostPool, default_pool_size
from runner_vm.protocol import ProtocolError, RunRequest, RunResult
from runner_vm.runsc import RunscBackend
from runner_vm.sandbox import NoSandbox, SandboxBackend, SandboxUnavailable

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[SandboxBackend]] = {
    cls.name: cls for cls in (RunscBackend, NspawnBackend, BubblewrapBackend, NoSandbox)
}
# Fallback order when no backend is configured: the strongest that works here.
AUTO_ORDER = ("nspawn", "namespaces")


@dataclass
class RunnerSettings:
    backend: str = "auto"
    pool_size: int = field(default_factory=default_pool_size)
    max_waiting: int = 16
    state_dir: Path | None = None


def choose_backend(name: str, policy: Policy, state_dir: Path) -> SandboxBackend:
    """The named backend, or with "auto" the strongest one that starts on this machine."""
    if name != "auto":
        backend = BACKENDS[name](policy, state_dir)
        backend.check()
        return backend
    reasons = []
    for candidate in AUTO_ORDER:
        backend = BACKENDS[candidate](policy, state_dir)
        try:
            backend.check()
            return backend
        except SandboxUnavailable as why:
            reasons.append(f"{candidate}: {why}")
    raise SandboxUnavailable(
        "no sandbox backend works on this machine (" + "; ".join(reasons) + "); "
        "install systemd-container or bubblewrap, or choose --sandbox none for development"
    )


class Runner:
    def __init__(self, settings: RunnerSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        state = settings.state_dir or Path(tempfile.mkdtemp(prefix="fiddle-runner-"))
        # A state directory made here is ours to remove; one given by the operator is not.
        self._temporary_state = None if settings.state_dir else state
        self.backend = choose_backend(settings.backend, policy, state)
        self.pool = HostPool(self.backend, policy, settings.pool_size, settings.max_waiting)
        self.events = EventBus()
        self.build = builds.current_build()

    def start(self) -> None:
        log.info("runner: sandbox backend %r, %d warm hosts", self.backend.name, self.pool.size)
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()
        if self._temporary_state is not None:
            shutil.rmtree(self._temporary_state, ignore_errors=True)

    def run(self, request: RunRequest) -> RunResult:
        """Raises PoolBusy (before any event: the run never started) or HostDied."""
        uuid = request.run_uuid
        with self.pool.lease() as host:
            self.events.emit(Event.PRE_COMPILE, uuid, code_bytes=len(request.code.encode()))
            try:
                return self._result(request, host.run(request.to_json()))
            finally:
                self.events.emit(Event.CLEANUP, uuid, backend=self.backend.name)

    def _result(self, request: RunRequest, answer: dict[str, Any]) -> RunResult:
        answer = {**answer, "protocol": 1, "run_uuid": request.run_uuid, "runid": self.build.runid}
        answer.setdefault("compile_errors", [])
        answer.setdefault("runtime_error", "")
        answer.setdefault("text", "")
        answer.setdefault("outputs", {})
        try:
            result = RunResult.from_json(answer)
        except ProtocolError as error:  # the host reads every result totally: never expected
            answer = self._refused(answer, f"the sandbox sent a malformed result ({error})")
            result = RunResult.from_json(answer)
        problem = outputs.problem(request, result)
        if problem:
            answer = self._refused(answer, f"the program tampered with its result: {problem}")
            result = RunResult.from_json(answer)
        self._emit_outcome(request.run_uuid, answer)
        return result

    @staticmethod
    def _refused(answer: dict[str, Any], message: str) -> dict[str, Any]:
        """The run as failed: no outputs are kept, only the message (and what it printed)."""
        text = answer["text"] if isinstance(answer["text"], str) else ""
        fields = {"compile_errors": [], "runtime_error": message, "text": text, "outputs": {}}
        return {**answer, **fields, "limit": "crash"}

    def _emit_outcome(self, uuid: str, answer: dict[str, Any]) -> None:
        limit = answer.get("limit", "")
        self.events.emit(Event.POST_COMPILE, uuid, compile_errors=len(answer["compile_errors"]))
        if not answer["compile_errors"]:
            self.events.emit(Event.PRE_RUN, uuid)
        if limit == "wall":
            self.events.emit(Event.TIMEOUT, uuid, limit=limit)
        elif limit:
            self.events.emit(Event.KILLED, uuid, limit=limit)
        self.events.emit(
            Event.POST_RUN, uuid, duration_ms=answer.get("duration_ms", 0.0), limit=limit,
            ok=not answer["compile_errors"] and not answer["runtime_error"],
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {
            "protocol": 1,
            "runid": self.build.runid,
            "skia_python": self.build.skia_python,
            "sandbox": self.backend.name,
            "hosts": self.pool.size,
            "busy": self.pool.busy,
            "waiting": self.pool.waiting,
            "turned_away": self.pool.turned_away,
        }
