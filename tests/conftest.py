"""Shared fixtures: a real runner process (in its real sandbox) and apps over a temporary store."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.app import create_app
from functions.config import Settings

RUNNER_START_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with status {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


@contextlib.contextmanager
def serving(
    command: list[str], url: str, env: dict[str, str] | None = None, **popen: Any
) -> Iterator[str]:
    """Start a server in its own process group, wait for its /healthz, stop the group after."""
    process = subprocess.Popen(command, env=env, start_new_session=True, **popen)
    try:
        wait_until_healthy(url, process, RUNNER_START_SECONDS)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def runner_process(
    sandbox: str = "auto", hosts: int = 2, max_waiting: int = 8, stderr: int | None = None
) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "runner_vm.cli", "--port", str(port), "--sandbox", sandbox,
        "--hosts", str(hosts), "--max-waiting", str(max_waiting),
    ]  # fmt: skip
    with serving(command, f"http://127.0.0.1:{port}", stderr=stderr) as url:
        yield url


@contextlib.contextmanager
def started_runner(backend: str, policy: Any, state_dir: Path, pool_size: int) -> Iterator[Any]:
    """An in-process RunnerService on a sandbox backend, started and stopped after; skips the test
    where the backend cannot exist (not root, or not installed here)."""
    from runner_vm.sandbox.base import SandboxUnavailable
    from runner_vm.service.runner import RunnerService, RunnerSettings

    if os.geteuid() != 0:
        pytest.skip("the sandbox backends need root")
    settings = RunnerSettings(backend=backend, pool_size=pool_size, state_dir=state_dir)
    try:
        runner = RunnerService(settings, policy)
    except SandboxUnavailable as why:
        pytest.skip(f"backend {backend} is not available here: {why}")
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture(scope="session")
def runner_url() -> Iterator[str]:
    with runner_process() as url:
        yield url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(runner_url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=data_dir, runners=(runner_url,))
    application = create_app(settings)
    application.testing = True
    return application


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()
