"""The gVisor backend (runsc): containment of a few hostile programs, and no leftovers.

Skipped with the reason when runsc is not installed or cannot start a container here (it needs
root; on these VMs only its ptrace platform works). The full attack suite is test_attacks.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("skia")
pytest.importorskip("pyseccomp")

from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.policy import load_policy
from runner_vm.sandbox.base import SandboxUnavailable
from runner_vm.sandbox.runsc import CGROUP_ROOT, RUNSC, RunscBackend
from runner_vm.service.runner import RunnerService
from tests.conftest import started_runner

POLICY = load_policy()
WALL_ERROR = f"wall-clock limit of {POLICY.limits.wall_clock_seconds:g} s exceeded"
# Removing a killed container waits for the machine's init to reap gVisor's sandbox process.
CLEANUP_SECONDS = 15.0
DRAW = """
def draw(canvas):
    canvas.drawCircle(32, 32, 20, skia.Paint(AntiAlias=True, Color=skia.ColorRED))
"""
NO_DRAW = "\ndef draw(canvas):\n    pass\n"

pytestmark = pytest.mark.skipif(
    not os.access(RUNSC, os.X_OK), reason=f"runsc is not installed ({RUNSC})"
)


def run(runner: RunnerService, code: str) -> RunResult:
    if "def draw" not in code:
        code += NO_DRAW
    request = RunRequest(uuid.uuid4().hex, code, FiddleOptions(width=64, height=64))
    return runner.run(request)


def describe(result: RunResult) -> str:
    return f"runtime_error={result.runtime_error[:600]!r} text={result.text[:600]!r}"


def leftovers(backend: RunscBackend, container_ids: list[str]) -> list[str]:
    """Containers, bundles, cgroups and processes of these containers still on the machine."""
    found = backend.leftovers()
    found += [str(path) for cid in container_ids for path in CGROUP_ROOT.glob(f"*/{cid}")]
    listing = subprocess.run(
        [RUNSC, f"--root={backend.runsc_state}", "list", "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found += listing.stdout.split()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(backend.runsc_state).encode() in cmdline:
            found.append(f"process {pid}: {cmdline[:120]!r}")
    return found


def wait_for_no_leftovers(backend: RunscBackend, container_ids: list[str]) -> list[str]:
    deadline = time.monotonic() + CLEANUP_SECONDS
    while (found := leftovers(backend, container_ids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerService]:
    with started_runner("runsc", POLICY, tmp_path_factory.mktemp("runsc"), pool_size=2) as runner:
        yield runner


def test_a_normal_draw_renders_a_png(runner: RunnerService) -> None:
    result = run(runner, DRAW)
    assert result.succeeded, describe(result)
    assert result.outputs["cpu.png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_seccomp_works_inside_gvisor(runner: RunnerService) -> None:
    result = run(runner, "print(open('/proc/self/status').read())")
    assert result.succeeded, describe(result)
    status = dict(line.split(":\t", 1) for line in result.text.splitlines() if ":\t" in line)
    assert status["Seccomp"].strip() == "2", describe(result)
    assert int(status["CapEff"], 16) == 0, describe(result)
    assert int(status["Uid"].split()[0]) >= POLICY.uid_base, describe(result)


def test_a_socket_is_contained(runner: RunnerService) -> None:
    result = run(runner, "import socket\nsocket.socket()\n")
    # The run's seccomp filter traps it before gVisor's network stack (none here) is asked.
    assert result.runtime_error == "forbidden system call: socket", describe(result)


def test_host_secrets_are_not_there(runner: RunnerService) -> None:
    result = run(runner, "open('/etc/shadow').read()\n")
    assert result.runtime_error.splitlines()[-1:] == [
        "FileNotFoundError: [Errno 2] No such file or directory: '/etc/shadow'"
    ], describe(result)


def test_no_host_process_is_visible(runner: RunnerService) -> None:
    code = """
import os
for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
    with open(f'/proc/{pid}/cmdline', 'rb') as handle:
        print(pid, handle.read().split(b'\\0')[0].decode())
"""
    result = run(runner, code)
    assert result.succeeded, describe(result)
    seen = [line.split(" ", 1) for line in result.text.splitlines()]
    # The sandbox host (gVisor's pid 1) and this run's child; nothing of the machine.
    assert len(seen) <= 3, describe(result)
    assert all("python" in command for _, command in seen), describe(result)


@pytest.mark.slow
def test_sleeping_forever_hits_the_wall_clock(runner: RunnerService) -> None:
    result = run(runner, "import time\ntime.sleep(100)\n")
    assert result.runtime_error == WALL_ERROR, describe(result)
    assert run(runner, DRAW).succeeded, "the host did not survive the wall-clock kill"
    assert runner.pool.replaced == 0


def test_stopping_the_runner_leaves_nothing_behind(tmp_path: Path) -> None:
    with started_runner("runsc", POLICY, tmp_path, pool_size=2) as runner:
        backend = runner.backend
        assert isinstance(backend, RunscBackend)
        container_ids = [path.name for path in backend.bundles.iterdir()]
        assert len(container_ids) == 2
        assert run(runner, DRAW).succeeded
    assert wait_for_no_leftovers(backend, container_ids) == []


def test_a_killed_runsc_is_cleaned_up(tmp_path: Path) -> None:
    backend = RunscBackend(POLICY, tmp_path)
    try:
        backend.check()
    except SandboxUnavailable as why:
        pytest.skip(f"runsc does not start here: {why}")
    backend.prepare()
    process = subprocess.Popen(
        backend.wrap(["/usr/bin/sleep", "60"]), stdin=subprocess.DEVNULL, start_new_session=True
    )
    container_ids = [path.name for path in backend.bundles.iterdir()]
    deadline = time.monotonic() + 30
    while not list(backend.runsc_state.glob("*.state")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(CGROUP_ROOT.glob(f"*/{container_ids[0]}")), "runsc made no cgroup"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert wait_for_no_leftovers(backend, container_ids) == []
