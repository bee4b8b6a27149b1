"""Shared fixtures: a real runner process (in its real sandbox) and apps over a temporary store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.config import Settings
from functions.devserver import runner_process


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
    with runner_process(hosts=2, max_waiting=8) as url:
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
