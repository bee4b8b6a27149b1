"""Fault injection on the runner side: the runner process or one sandbox host SIGKILLed mid-run,
and runners that hang (SIGSTOPped, or a port that accepts and never answers).

What the client sees: the run retried on another runner (200), or 503 with Retry-After and one
sentence; nothing of the run stored; the runner back afterwards (the pool replaces a host; a
runner process started again, as systemd does on a runner VM, returns to rotation at its next
health check, without restarting the functions). A hanging runner costs one request the
functions' deadline (FIDDLE_RUNNER_TIMEOUT), then stays out of rotation until /healthz answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.app import create_app
from functions.config import Settings
from functions.devserver import free_port, serve_command, wait_until_healthy
from functions.runs import NO_RUNNER
from functions.services import services
from functions.storage.local import LocalBlobStore
from tests.conftest import NO_BUILDS
from tests.faults import (
    SLEEPER,
    RunnerProcess,
    alive,
    command_line,
    descendants,
    parent,
    wait_for,
)

pytestmark = pytest.mark.slow
SANDBOX_HOST = "runner_vm.host"


@pytest.fixture
def runner_a() -> Iterator[RunnerProcess]:
    runner = RunnerProcess().start()
    yield runner
    runner.stop()


@pytest.fixture
def runner_b() -> Iterator[RunnerProcess]:
    runner = RunnerProcess().start()
    yield runner
    runner.stop()


def _app(data_dir: Path, *runners: str, timeout: float = 40.0) -> Any:
    app = create_app(Settings(data_dir=data_dir, runners=runners, runner_timeout=timeout))
    services(app).runner.health.down_seconds = 1.0  # type: ignore[attr-defined]
    return app


def _run(app: Any, code: str) -> Any:
    return app.test_client().post("/_/run", json={"code": code})


class InBackground:
    """A request made on a thread of its own, so the test can strike while it runs."""

    def __init__(self, app: Any, code: str) -> None:
        self.answer: Any = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._call, args=(app, code), daemon=True)
        self._thread.start()

    def _call(self, app: Any, code: str) -> None:
        started = time.monotonic()
        self.answer = _run(app, code)
        self.seconds = time.monotonic() - started

    def result(self, timeout: float = 90) -> Any:
        self._thread.join(timeout)
        assert self.answer is not None, "the request did not finish"
        return self.answer


def _stored_fiddles(data_dir: Path) -> list[str]:
    return [info.name for info in LocalBlobStore(data_dir / "blobs").list("fiddle/")]


def _busy(runner: RunnerProcess) -> bool:
    return bool(runner.health()["busy"])


def _assert_no_runner(answer: Any) -> None:
    assert answer.status_code == 503, answer.get_json()
    assert answer.get_json() == {"error": NO_RUNNER, "fields": {}}
    assert int(answer.headers["Retry-After"]) > 0


def test_runner_killed_mid_run_the_run_is_retried_on_the_other_runner(
    runner_a: RunnerProcess, runner_b: RunnerProcess, data_dir: Path
) -> None:
    app = _app(data_dir, runner_a.url, runner_b.url)
    request = InBackground(app, SLEEPER.format(seconds=3, tag="retried"))
    wait_for(lambda: _busy(runner_a) or _busy(runner_b), 30, "the run started")
    victim, other = (runner_a, runner_b) if _busy(runner_a) else (runner_b, runner_a)
    os.kill(victim.pid, signal.SIGKILL)

    answer = request.result()
    assert answer.status_code == 200, answer.get_json()
    assert other.runs_started() == 1
    assert any(name.endswith("/run.json") for name in _stored_fiddles(data_dir))


def test_runner_killed_mid_run_alone_answers_503_stores_nothing_and_comes_back(
    runner_a: RunnerProcess, data_dir: Path
) -> None:
    app = _app(data_dir, runner_a.url)
    request = InBackground(app, SLEEPER.format(seconds=3, tag="alone"))
    wait_for(lambda: _busy(runner_a), 30, "the run started")
    tree = descendants(runner_a.pid)
    os.kill(runner_a.pid, signal.SIGKILL)

    _assert_no_runner(request.result())
    assert _stored_fiddles(data_dir) == []
    # Its sandbox hosts see their input close and end, their containers and runs with them.
    wait_for(lambda: not alive(tree), 30, f"the killed runner's processes end: {alive(tree)}")

    runner_a.process.wait()  # type: ignore[union-attr]
    runner_a.start()  # on the same port, as systemd's Restart=always does
    wait_for(
        lambda: _run(app, SLEEPER.format(seconds=0, tag="back")).status_code == 200,
        30,
        "the runner is back in rotation",
    )
    assert runner_a.runs_started() >= 1


def test_sandbox_host_killed_mid_run_answers_503_and_the_pool_replaces_it(
    runner_a: RunnerProcess, data_dir: Path
) -> None:
    app = _app(data_dir, runner_a.url)
    hosts_before = _sandbox_hosts(runner_a)
    assert len(hosts_before) == 1
    request = InBackground(app, SLEEPER.format(seconds=3, tag="host"))
    wait_for(lambda: _busy(runner_a), 30, "the run started")
    (host,) = hosts_before
    run_tree = descendants(host)
    os.kill(host, signal.SIGKILL)

    _assert_no_runner(request.result())
    assert _stored_fiddles(data_dir) == []
    wait_for(lambda: not alive(run_tree), 30, "the killed host's run ends with it")
    # The runner stays up; the pool starts a new host, which takes the next run.
    answer = _run(app, SLEEPER.format(seconds=0, tag="after"))
    assert answer.status_code == 200, answer.get_json()
    hosts_after = _sandbox_hosts(runner_a)
    assert len(hosts_after) == 1 and hosts_after != hosts_before


def _sandbox_hosts(runner: RunnerProcess) -> set[int]:
    """The sandbox host processes of a runner: the first `python -m runner_vm.host` inside each
    container (below it are its zygote and the zygote's children)."""
    python = {pid for pid in descendants(runner.pid) if _is_host_python(pid)}
    return {pid for pid in python if parent(pid) not in python}


def _is_host_python(pid: int) -> bool:
    words = command_line(pid).split()
    return bool(words) and "python" in Path(words[0]).name and SANDBOX_HOST in words[1:5]


# --- runners that hang ------------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_runner_that_accepts_and_never_answers_times_out_at_the_deadline(
    silent_port: str, data_dir: Path
) -> None:
    app = _app(data_dir, silent_port, timeout=2.0)
    started = time.monotonic()
    _assert_no_runner(_run(app, SLEEPER.format(seconds=0, tag="silent")))
    assert 2.0 <= time.monotonic() - started < 4.0
    assert not services(app).runner.health.in_rotation(silent_port)  # type: ignore[attr-defined]
    assert _stored_fiddles(data_dir) == []


def test_stopped_runner_times_out_then_stays_out_of_rotation_until_healthy(
    runner_a: RunnerProcess, runner_b: RunnerProcess, data_dir: Path
) -> None:
    app = _app(data_dir, runner_a.url, runner_b.url, timeout=2.0)
    health = services(app).runner.health  # type: ignore[attr-defined]
    os.kill(runner_a.pid, signal.SIGSTOP)
    try:
        # The first run tries the stopped runner (first in turn), waits out the deadline, and
        # runs on the other.
        started = time.monotonic()
        answer = _run(app, SLEEPER.format(seconds=0, tag="stopped-0"))
        assert answer.status_code == 200 and time.monotonic() - started >= 2.0
        # Out of rotation: later runs never wait for it, not even while it is probed again
        # (in the background) after its time out.
        for n in range(1, 6):
            started = time.monotonic()
            answer = _run(app, SLEEPER.format(seconds=0, tag=f"stopped-{n}"))
            assert answer.status_code == 200 and time.monotonic() - started < 1.5
            time.sleep(0.5)
        assert not health.in_rotation(runner_a.url)
    finally:
        os.kill(runner_a.pid, signal.SIGCONT)
    wait_for(lambda: health.in_rotation(runner_a.url), 15, "the runner is healthy again")
    before = runner_a.runs_started()
    for n in range(4):
        assert _run(app, SLEEPER.format(seconds=0, tag=f"resumed-{n}")).status_code == 200
    assert runner_a.runs_started() > before


# --- the runner of `fiddle serve` -------------------------------------------------------------


@pytest.fixture
def fiddle_serve(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [
        *serve_command(port, tmp_path / "serve-data", examples=False),
        "--builds-dir", str(NO_BUILDS),
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _local_runner(serve: subprocess.Popen[bytes]) -> tuple[int, str]:
    """The pid and URL of the runner `fiddle serve` started."""
    for pid in descendants(serve.pid):
        words = command_line(pid).split()
        if parent(pid) == serve.pid and "runner_vm.cli" in words:
            return pid, f"http://127.0.0.1:{words[words.index('--port') + 1]}"
    raise AssertionError("fiddle serve has no runner")


def _post_run(url: str, code: str) -> requests.Response:
    return requests.post(f"{url}/_/run", json={"code": code}, timeout=90)


def test_fiddle_serve_starts_its_runner_again_when_it_is_killed_mid_run(
    fiddle_serve: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, serve = fiddle_serve
    runner, runner_url = _local_runner(serve)
    answers: list[requests.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(_post_run(url, SLEEPER.format(seconds=3, tag="serve")))
    )
    request.start()
    wait_for(
        lambda: requests.get(f"{runner_url}/healthz", timeout=5).json()["busy"] > 0,
        30,
        "the run started",
    )
    tree = descendants(runner)
    os.kill(runner, signal.SIGKILL)
    request.join(90)

    (answer,) = answers
    assert answer.status_code == 503 and answer.json() == {"error": NO_RUNNER, "fields": {}}
    assert int(answer.headers["Retry-After"]) > 0
    wait_for(lambda: not alive(tree), 30, "the killed runner's processes end")
    wait_for(
        lambda: _post_run(url, SLEEPER.format(seconds=0, tag="again")).status_code == 200,
        60,
        "fiddle serve's runner runs again",
    )
    assert _local_runner(serve)[0] != runner
