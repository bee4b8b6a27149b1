"""Starting the service's processes on this machine and waiting until they answer: the runner
`fiddle serve` starts beside the functions, and the servers the tests and the benchmark start.

Each server runs in a session of its own, so that stopping it stops everything it started (a
runner's sandbox hosts and their children) and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

START_SECONDS = 120.0
STOP_SECONDS = 15.0


class DidNotStart(RuntimeError):
    """A server exited, or did not answer its /healthz in time; the message says which."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], timeout: float = START_SECONDS
) -> None:
    """Return once `url`/healthz answers 200; raise DidNotStart if the process ends first or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DidNotStart(f"{url} exited with status {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        time.sleep(0.1)
    raise DidNotStart(f"{url} did not answer /healthz within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_SECONDS) -> None:
    """SIGTERM to the process's whole session, SIGKILL if it is still there after `timeout`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def serving(
    command: list[str],
    url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = START_SECONDS,
    **popen: Any,
) -> Iterator[str]:
    """Start a server in a session of its own, wait for its /healthz, stop the session after."""
    process = subprocess.Popen(command, env=env, start_new_session=True, **popen)
    try:
        wait_until_healthy(url, process, timeout)
        yield url
    finally:
        stop(process)


def runner_command(
    port: int,
    sandbox: str = "auto",
    hosts: int | None = None,
    max_waiting: int | None = None,
    builds_dir: Path | None = None,
) -> list[str]:
    """`fiddle runner` on loopback; without hosts, max_waiting or builds_dir, the runner's own
    defaults."""
    command = [sys.executable, "-m", "runner_vm.cli", "--port", str(port), "--sandbox", sandbox]
    if hosts is not None:
        command += ["--hosts", str(hosts)]
    if max_waiting is not None:
        command += ["--max-waiting", str(max_waiting)]
    if builds_dir is not None:
        command += ["--builds-dir", str(builds_dir)]
    return command


@contextlib.contextmanager
def runner_process(
    sandbox: str = "auto",
    hosts: int | None = None,
    max_waiting: int | None = None,
    env: Mapping[str, str] | None = None,
    stderr: int | None = None,
    builds_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> Iterator[str]:
    """A runner on a free loopback port, answering at the URL yielded; stopped after. `extra`:
    more of `fiddle runner`'s arguments."""
    port = free_port()
    command = [*runner_command(port, sandbox, hosts, max_waiting, builds_dir), *extra]
    with serving(command, f"http://127.0.0.1:{port}", env=env, stderr=stderr) as url:
        yield url


def serve_command(port: int, data_dir: Path | str, examples: bool = True) -> list[str]:
    """`fiddle serve` on loopback over the store in data_dir."""
    command = [sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
               "--data-dir", str(data_dir)]  # fmt: skip
    return command if examples else [*command, "--no-examples"]
