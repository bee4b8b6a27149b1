"""The runner service (RunnerService): its Skia builds, a sandbox backend, warm sandbox hosts for
each build (warm.py), lifecycle events around every run."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fiddle_protocol.messages import RunnerInfo, RunRequest, RunResult
from runner_vm.builds.catalog import DEFAULT_BUILDS_DIR, Build
from runner_vm.drawing import gl
from runner_vm.host.exchange import RunHeader, RunSummary
from runner_vm.policy import Policy
from runner_vm.sandbox.base import NoSandbox, SandboxBackend, SandboxUnavailable
from runner_vm.sandbox.containers import BubblewrapBackend, NspawnBackend
from runner_vm.sandbox.runsc import RunscBackend
from runner_vm.service.events import Event, EventBus
from runner_vm.service.pool import HostPool, default_pool_size
from runner_vm.service.warm import BuildSource, WarmBuilds, WarmSettings

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[SandboxBackend]] = {
    cls.name: cls for cls in (RunscBackend, NspawnBackend, BubblewrapBackend, NoSandbox)
}
# Fallback order when no backend is configured: the strongest that works here.
AUTO_ORDER = ("nspawn", "namespaces")


@dataclass
class RunnerSettings:
    backend: str = "auto"
    pool_size: int = field(default_factory=default_pool_size)  # HEAD's hosts
    max_waiting: int = 16
    state_dir: Path | None = None
    builds_dir: Path = DEFAULT_BUILDS_DIR
    build_hosts: int = 2  # hosts of each other warm build
    warm_builds: int = 2  # builds besides HEAD kept warm at most
    no_gpu: bool = False  # hosts make no GL context (FIDDLE_NO_GPU)
    gl_cold: bool = False  # a GL context per child, to measure the warm one (FIDDLE_GL_COLD)

    def warm(self) -> WarmSettings:
        return WarmSettings(self.pool_size, self.build_hosts, self.warm_builds, self.max_waiting)


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


class RunnerService:
    """The runner service: its builds, their warm sandbox hosts, events around each run.

    A request is parsed once here (to refuse a bad one before it takes a host, and to give the
    host what it needs in a header); its bytes go on to the child as they came. The result comes
    back as the bytes of the RunResult the host wrote, which go on to the functions unread.
    """

    def __init__(self, settings: RunnerSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        state = settings.state_dir or Path(tempfile.mkdtemp(prefix="fiddle-runner-"))
        # A state directory made here is ours to remove; one given by the operator is not.
        self._temporary_state = None if settings.state_dir else state
        self.backend = choose_backend(settings.backend, policy, state)
        self.backend.host_flags = gl.host_flags(settings.no_gpu, settings.gl_cold)
        source = BuildSource(settings.builds_dir)
        self.builds = WarmBuilds(self.backend, policy, source, settings.warm())
        self.events = EventBus()

    def start(self) -> None:
        self.backend.prepare()
        self.builds.start()
        head = self.builds.head()
        log.info(
            "runner: sandbox backend %r, HEAD %s with %d warm hosts",
            self.backend.name, head.runid, self.settings.pool_size,
        )  # fmt: skip
        log.info("runner: GPU: %s", self.builds.gpu().summary)

    def stop(self) -> None:
        self.builds.stop()
        if self._temporary_state is not None:
            shutil.rmtree(self._temporary_state, ignore_errors=True)

    @property
    def build(self) -> Build:
        """HEAD: the newest build."""
        return self.builds.head()

    @property
    def pool(self) -> HostPool:
        """HEAD's pool of warm hosts."""
        return self.builds.pool(self.builds.head().runid)

    def run(self, request: RunRequest) -> RunResult:
        """Run in this process's own terms (tests, tools): the result, parsed."""
        return RunResult.from_bytes(self.answer(request, request.to_bytes()))

    def answer(self, request: RunRequest, body: bytes) -> bytes:
        """The RunResult's bytes for `request`, whose bytes as sent are `body`, at the build it
        names. Raises UnknownBuild or PoolBusy (before any event: the run never started), or
        HostDied."""
        uuid = request.run_uuid
        with self.builds.lease(request.build, background=request.background) as (build, host):
            header = RunHeader.of(request, build.runid)
            self.events.emit(
                Event.PRE_COMPILE, uuid, code_bytes=len(request.code.encode()), runid=build.runid
            )
            try:
                summary, result = host.run(header, body)
                self._emit_outcome(uuid, summary)
                return result
            finally:
                self.events.emit(Event.CLEANUP, uuid, backend=self.backend.name)

    def _emit_outcome(self, uuid: str, summary: RunSummary) -> None:
        self.events.emit(Event.POST_COMPILE, uuid, compile_errors=summary.compile_errors)
        if not summary.compile_errors:
            self.events.emit(Event.PRE_RUN, uuid)
        if summary.limit == "wall":
            self.events.emit(Event.TIMEOUT, uuid, limit=summary.limit)
        elif summary.limit:
            self.events.emit(Event.KILLED, uuid, limit=summary.limit)
        self.events.emit(
            Event.POST_RUN, uuid, duration_ms=summary.duration_ms, limit=summary.limit,
            ok=summary.ok,
        )  # fmt: skip

    def describe(self) -> RunnerInfo:
        self.builds.refresh()
        head = self.builds.head()
        return RunnerInfo(
            runid=head.runid,
            skia_python=head.skia_python,
            sandbox=self.backend.name,
            builds=tuple(self.builds.infos()),
            warm_builds=self.settings.warm_builds,
            **self.builds.totals(),
            gpu=self.builds.gpu(),
        )
