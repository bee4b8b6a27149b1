"""The fast layer's fixtures: the real app over the in-memory blob store, SQLite in a temporary
directory and the in-process runner of tests/fast/fakes.py. Nothing here needs root, a sandbox,
an emulator or a browser; `nox -s quick` runs this directory alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from functions.config import Settings
from functions.storage.memory import MemoryBlobStore
from tests.fast.fakes import FakeRunner, fast_app

MakeApp = Callable[..., Flask]


@pytest.fixture(scope="session")
def runner_url() -> str:
    pytest.fail(
        "tests/fast starts no runner: take the `runner` fixture (FakeRunner, tests/fast/fakes.py)"
        " instead of runner_url, or move the test to tests/ if it needs the real sandbox"
    )


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def blobs() -> MemoryBlobStore:
    """The test's blob store: every app a test makes shares it, as apps over one data dir do."""
    return MemoryBlobStore()


@pytest.fixture
def make_app(data_dir: Path, blobs: MemoryBlobStore, runner: FakeRunner) -> MakeApp:
    """An app over the test's stores and runner: `make_app(rate_limits=...)` sets fields of the
    default Settings, `make_app(settings)` takes whole ones (their runners are not used)."""

    def make(settings: Settings | None = None, **fields: Any) -> Flask:
        return fast_app(settings or Settings(data_dir=data_dir, **fields), blobs, runner)

    return make


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()
