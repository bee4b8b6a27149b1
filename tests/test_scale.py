"""Several runners behind one `fiddle serve`: load spreads, and a runner killed mid-run costs
nothing but a retry elsewhere (or a clean 503): no partial result is ever stored."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from functions.devserver import free_port, serve_command, serving
from functions.storage.local import LocalBlobStore
from tests.conftest import runner_process

SLOW = (
    "import time\ntime.sleep(1.5)\n# {n}\n"
    "def draw(canvas):\n    canvas.drawPaint(skia.Paint(Color=skia.ColorRED))\n"
)
FAST = "# {n}\ndef draw(canvas):\n    canvas.drawCircle(8, 8, 4, skia.Paint())\n"


def serve_with(runners: list[str], data_dir: Path) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    env = {
        **os.environ,
        "FIDDLE_RUNNERS": ",".join(runners),
        "FIDDLE_RATE_LIMIT_RUN": "10000/minute",
        # Six runs at once from this one address: more than a client's fair share.
        "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT": "0",
    }
    command = [*serve_command(port, data_dir, examples=False), "--threads", "16"]
    return serving(command, f"http://127.0.0.1:{port}", env)


def runs_taken(runner: str) -> float:
    for line in requests.get(f"{runner}/metrics", timeout=5).text.splitlines():
        if line.startswith('fiddle_runner_events_total{event="cleanup"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
def three_runners() -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(runner_process(hosts=1, max_waiting=4)) for _ in range(3)]


def post(url: str, code: str) -> requests.Response:
    return requests.post(
        f"{url}/_/run", json={"code": code, "options": {"width": 16, "height": 16}}, timeout=90
    )


@pytest.mark.slow
def test_load_spreads_over_every_runner(three_runners: list[str], tmp_path: Path) -> None:
    with serve_with(three_runners, tmp_path) as url, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: post(url, FAST.format(n=n)), range(30)))
    assert all(a.status_code == 200 and a.json()["runtime_error"] == "" for a in answers)
    shares = [runs_taken(runner) for runner in three_runners]
    assert sum(shares) == 30 and min(shares) >= 5, shares


def complete_runs(data_dir: Path) -> tuple[set[str], set[str]]:
    """(hashes with a complete run, run directories lacking their marker)."""
    names = {info.name for info in LocalBlobStore(data_dir / "blobs").list("fiddle/")}
    run_dirs = {name.rsplit("/", 1)[0] for name in names if name.count("/") == 3}
    complete = {d for d in run_dirs if f"{d}/run.json" in names}
    return {d.split("/")[1] for d in complete}, run_dirs - complete


@pytest.mark.slow
def test_a_runner_killed_mid_run_costs_a_retry_not_a_partial_result(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        runners = [stack.enter_context(runner_process(hosts=1, max_waiting=4)) for _ in range(3)]
        victim = runners[0]
        with serve_with(runners, tmp_path) as url, ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(post, url, SLOW.format(n=n)) for n in range(6)]
            time.sleep(0.7)
            kill_runner(victim)
            answers = [future.result() for future in futures]
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 4
    done, partial = complete_runs(tmp_path)
    assert partial == set()
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["runtime_error"] == "" and answer.json()["fiddleHash"] in done
        else:
            assert int(answer.headers["Retry-After"]) > 0


def kill_runner(url: str) -> None:
    port = url.rsplit(":", 1)[1]
    found = subprocess.run(
        ["pgrep", "-f", f"runner_vm.cli --port {port} "], capture_output=True, text=True
    )
    for pid in found.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
