"""The official Firestore emulator (from the Google Cloud CLI) for the test session.

`firestore_emulator` starts one emulator per session on a free port (its own launcher, about 2 s;
Java), points the client library at it through FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT, and
kills its whole process group at the end. `firestore_client` is a client on it, emptied before each
test through the emulator's REST reset call. Where the emulator is not installed, the tests that use
it are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

PROJECT = "demo-fiddle-test"  # "demo-" projects never reach Google
START_TIMEOUT_SECONDS = 60.0
LAUNCHER = Path("platform", "cloud-firestore-emulator", "cloud_firestore_emulator")
INSTALL_HINT = (
    "install the Google Cloud CLI component (apt: google-cloud-cli-firestore-emulator;"
    " or `gcloud components install cloud-firestore-emulator`) and Java 11+"
)


def _sdk_roots() -> Iterator[Path]:
    if os.environ.get("CLOUDSDK_ROOT_DIR"):
        yield Path(os.environ["CLOUDSDK_ROOT_DIR"])
    gcloud = shutil.which("gcloud")
    if gcloud:
        yield Path(gcloud).resolve().parent.parent  # <root>/bin/gcloud
    yield from (
        Path("/usr/lib/google-cloud-sdk"),
        Path("/usr/share/google-cloud-sdk"),
        Path("/opt/google-cloud-sdk"),
        Path.home() / "google-cloud-sdk",
    )


def find_launcher() -> tuple[Path | None, str]:
    """The emulator's launcher script, or None and the reason it cannot run here."""
    java = (os.environ.get("JAVA") or "java").split()  # the launcher runs $JAVA unquoted
    if shutil.which(java[0]) is None:
        return None, f"the Firestore emulator needs Java ({java[0]!r} not found): {INSTALL_HINT}"
    for root in _sdk_roots():
        launcher = root / LAUNCHER
        if launcher.is_file() and (launcher.parent / "cloud-firestore-emulator.jar").is_file():
            return launcher, ""
    return None, f"the Firestore emulator is not installed: {INSTALL_HINT}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FirestoreEmulator:
    def __init__(self, launcher: Path, project: str = PROJECT, port: int | None = None) -> None:
        """Start the emulator on `port` (a free one unless given: again on the port of one
        stopped before, to restart it)."""
        self.project = project
        self.port = port or _free_port()
        self.host = f"127.0.0.1:{self.port}"
        # Its output goes to a file: a pipe nobody reads would fill and stall it.
        self.log = Path(tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")[1])
        started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(launcher), "start", "--host=127.0.0.1", f"--port={self.port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the script and its java
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Firestore emulator exited with status {self.process.returncode}:\n"
                    + self.log_tail()
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://{self.host}/", timeout=1).ok:
                    return
            time.sleep(0.05)
        raise RuntimeError(
            f"the Firestore emulator did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def reset(self) -> None:
        """Delete every document of the project."""
        url = (
            f"http://{self.host}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        )
        requests.delete(url, timeout=30).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # The java child may outlive the script: end what is left of the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    launcher, reason = find_launcher()
    if launcher is None:
        pytest.skip(reason)
    emulator = FirestoreEmulator(launcher)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
            env.setenv("GOOGLE_CLOUD_PROJECT", emulator.project)
            yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def _firestore_session_client(firestore_emulator: FirestoreEmulator) -> Iterator[Any]:
    from google.cloud import firestore

    client = firestore.Client(project=firestore_emulator.project)
    yield client
    client.close()


@pytest.fixture
def firestore_client(firestore_emulator: FirestoreEmulator, _firestore_session_client: Any) -> Any:
    """A client on an empty emulator database."""
    firestore_emulator.reset()
    return _firestore_session_client
