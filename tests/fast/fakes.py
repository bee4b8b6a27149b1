"""Stand-ins at the edge of the functions, for tests that need no root, sandbox or emulator.

`FakeRunner` is a `RunnerClient` that runs the runner's own code in this process: the drawing
code (runner_vm/drawing/execute.py) renders the program, the child's report is framed as the
child writes it, the sandbox host's verdict (runner_vm/host/verdict.py) judges it into the
RunResult's bytes, and the functions read and verify those bytes with the same functions as
their HTTP client (functions/runner_client.py). So outputs are checked exactly as in production;
only the sandbox, the pool and HTTP are missing. Programs run unconfined in the test process:
trusted test code only. Anything hostile, and every limit a program runs into, belongs to the
real sandbox (tests/test_attacks.py and the other tests beside it).

For the paths a drawing cannot reach, it answers canned results instead (`then`): a result
stopped by a limit as the host writes it, a runner that is busy or down, a run held until the
test lets it go.

`fast_app` is the real app over these: the in-memory blob store, SQLite in the data directory,
and a cheaper argon2 for passwords.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator

from argon2 import PasswordHasher
from flask import Flask

from fiddle_protocol.messages import Limit, RunnerInfo, RunRequest, RunResult
from functions.app import create_app
from functions.config import Settings
from functions.runner_client import RunnerClient, RunnerUnavailable, read_result, verified
from functions.services import services
from functions.storage.blobstore import BlobStore
from functions.storage.memory import MemoryBlobStore
from runner_vm.builds.catalog import environment_build as current_build
from runner_vm.child.main import report
from runner_vm.drawing import execute
from runner_vm.host.collect import ChildReport
from runner_vm.host.exchange import RunHeader
from runner_vm.host.framing import encode
from runner_vm.host.verdict import failed, judge
from runner_vm.policy import load_policy

POLICY = load_policy()
LIMITS = POLICY.limits
# argon2id as the service hashes passwords, at the lowest cost argon2 takes: at its default cost
# (which the service keeps: test_accounts_hardening.py) each hash takes 0.15-0.5 s of CPU here,
# and most tests make users.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# A canned answer: the result for a run (given its header, as the host has it), or the exception
# the client raises.
Answer = Callable[[RunHeader], RunResult] | RunnerUnavailable
HOLD_SECONDS = 60.0


def judged_here(request: RunRequest, runid: str) -> RunResult:
    """The request run by the runner's drawing code in this process, its report judged by the
    sandbox host's own verdict, as a confined child's would be."""
    child = ChildReport(encode(report(execute.run(request))), status=0)
    return judge(child, RunHeader.of(request, runid), POLICY)


def stopped_by(limit: Limit, text: str = "") -> Callable[[RunHeader], RunResult]:
    """A canned answer: the run stopped by `limit`, written as the host writes one."""
    return lambda header: failed(header, limit, text)


class FakeRunner(RunnerClient):
    """Runs in this process (see the module's docstring); one run at a time, since a program's
    printing is caught by redirecting this process's stdout."""

    def __init__(self, runid: str = "", skia_python: str = "") -> None:
        build = current_build()
        self.info = RunnerInfo(
            runid=runid or build.runid,
            skia_python=skia_python or build.skia_python,
            sandbox="none (in process)",
            hosts=1,
        )
        self.requests: list[RunRequest] = []  # every run asked for, in order
        self.down = False  # describe() and run() answer as a runner nobody can reach
        self._canned: deque[Answer] = deque()
        self._open = threading.Event()
        self._open.set()
        self._drawing = threading.Lock()
        self._asked = threading.Lock()

    def run(self, request: RunRequest) -> RunResult:
        with self._asked:
            self.requests.append(request)
            canned = self._canned.popleft() if self._canned else None
        if self.down:
            raise RunnerUnavailable("the fake runner is down")
        if not self._open.wait(HOLD_SECONDS):
            raise AssertionError(f"a run was held for more than {HOLD_SECONDS:.0f} s")
        if isinstance(canned, RunnerUnavailable):
            raise canned
        header = RunHeader.of(request, self.info.runid)
        result = canned(header) if canned else self._draw(request)
        # The bytes a runner would answer, read and verified as the HTTP client does.
        return verified(request, read_result(result.to_bytes()))

    def describe(self) -> RunnerInfo:
        if self.down:
            raise RunnerUnavailable("the fake runner is down")
        return self.info

    def then(self, *answers: Answer) -> None:
        """Answer the next runs with these, in order, then draw again."""
        with self._asked:
            self._canned.extend(answers)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Runs started inside wait (in flight, as far as the functions know) until it ends."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    @property
    def runs(self) -> int:
        return len(self.requests)

    def _draw(self, request: RunRequest) -> RunResult:
        with self._drawing:
            return judged_here(request, self.info.runid)


def fast_app(
    settings: Settings, blobs: BlobStore | None = None, runner: RunnerClient | None = None
) -> Flask:
    """The real app over the stand-ins: `blobs` (a new memory store by default), `runner` (a new
    FakeRunner by default; the settings' runners are not used) and SQLite in the settings'
    data directory."""
    app = create_app(settings, blob_store=blobs or MemoryBlobStore(), runner=runner or FakeRunner())
    app.testing = True
    services(app).accounts.hasher = CHEAP_HASHER
    return app
