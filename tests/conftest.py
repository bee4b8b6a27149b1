"""Shared fixtures: a real runner process (in its real sandbox) and apps over a temporary store."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions import devserver
from functions.app import create_app
from functions.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# The default Skia builds, where scripts/setup installs them (tests never change them).
DEFAULT_BUILDS = ROOT / "data" / "builds"
# A builds directory with nothing in it: a runner there renders with the test environment's own
# skia-python, and starts fast.
NO_BUILDS = Path(tempfile.gettempdir()) / "fiddle-no-builds"


@contextlib.contextmanager
def runner_process(
    sandbox: str = "auto",
    hosts: int = 2,
    max_waiting: int = 8,
    stderr: int | None = None,
    builds_dir: Path | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[str]:
    """A runner on a free port; without `builds_dir`, one that has no builds (it renders with
    its own skia-python)."""
    with devserver.runner_process(
        sandbox, hosts, max_waiting, stderr=stderr, builds_dir=builds_dir or NO_BUILDS, extra=extra
    ) as url:
        yield url


@contextlib.contextmanager
def started_runner(
    backend: str,
    policy: Any,
    state_dir: Path,
    pool_size: int,
    builds_dir: Path | None = None,
    **settings_given: Any,
) -> Iterator[Any]:
    """An in-process RunnerService on a sandbox backend, started and stopped after; skips the test
    where the backend cannot exist (not root, or not installed here). Without `builds_dir` it has
    no builds, and renders with the test environment's own skia-python."""
    from runner_vm.sandbox.base import SandboxUnavailable
    from runner_vm.service.runner import RunnerService, RunnerSettings

    if os.geteuid() != 0:
        pytest.skip("the sandbox backends need root")
    settings = RunnerSettings(
        backend=backend,
        pool_size=pool_size,
        state_dir=state_dir,
        builds_dir=builds_dir or state_dir / "no-builds",
        **settings_given,
    )
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
def default_builds() -> Path:
    """The default Skia builds (m87, m138, the newest m144) where scripts/setup installs them,
    installed first if any is missing (from PyPI, each checked by its smoke render). Tests read
    them and never change them: those that add or remove builds work on `copied_builds`."""
    from runner_vm.builds.catalog import BuildsDir, default_versions
    from runner_vm.builds.install import Installer, source_of
    from runner_vm.policy import load_policy

    builds = BuildsDir(DEFAULT_BUILDS)
    present = {build.skia_python for build in builds.builds()}
    missing = [version for version in default_versions() if version not in present]
    if missing and os.geteuid() != 0:
        pytest.skip(f"the default Skia builds {missing} are missing (scripts/setup installs them)")
    installer = Installer(builds, load_policy())
    for version in missing:
        installer.add(source_of(version))
    return DEFAULT_BUILDS


def copy_builds(source: Path, target: Path) -> Path:
    """A builds directory of its own with the same builds: every file a hard link (no copy)."""
    import shutil

    def bookkeeping(folder: str, names: list[str]) -> list[str]:
        """The commands' lock and staging directory, at the top only."""
        return [name for name in names if name.startswith(".")] if folder == str(source) else []

    shutil.copytree(source, target, copy_function=os.link, ignore=bookkeeping)
    return target


@pytest.fixture
def copied_builds(default_builds: Path, tmp_path: Path) -> Path:
    """The default builds in a directory this test may change (add, remove, decimate)."""
    return copy_builds(default_builds, tmp_path / "builds")


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
