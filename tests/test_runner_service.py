"""The runner's queue, lifecycle events and hooks, with real sandbox hosts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from fiddle_protocol.messages import PROTOCOL_VERSION, Limit, RunnerInfo, RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.policy import load_policy
from runner_vm.sandbox.base import readable_by_others
from runner_vm.service.events import EventRecord, JsonLogHook
from runner_vm.service.pool import default_pool_size
from runner_vm.service.runner import RunnerService, RunnerSettings
from tests.conftest import runner_process, started_runner

NO_DRAW = "def draw(canvas):\n    pass\n"
SLOW = "import time\ntime.sleep(1)\ndef draw(canvas):\n    pass\n# {n}\n"


def request_json(code: str) -> dict[str, object]:
    return RunRequest(str(uuid.uuid4()), code, FiddleOptions(width=8, height=8)).to_json()


def test_a_full_queue_answers_429_with_retry_after() -> None:
    with runner_process(hosts=1, max_waiting=1) as url, ThreadPoolExecutor(6) as pool:

        def send(n: int) -> requests.Response:
            return requests.post(f"{url}/run", json=request_json(SLOW.format(n=n)), timeout=60)

        answers = list(pool.map(send, range(6)))
    busy = [a for a in answers if a.status_code == 429]
    assert busy and all(int(a.headers["Retry-After"]) > 0 for a in busy)
    assert {a.status_code for a in answers} <= {200, 429}
    assert any(a.status_code == 200 for a in answers)


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerService]:
    service = RunnerService(RunnerSettings(backend="auto", pool_size=1), load_policy())
    service.start()
    yield service
    service.stop()


def test_events_carry_the_run_uuid_in_order(runner: RunnerService) -> None:
    seen: list[EventRecord] = []
    runner.events.subscribe(seen.append)
    result = runner.run(
        RunRequest("run-1", "def draw(canvas):\n    pass\n", FiddleOptions(width=8, height=8))
    )
    assert result.succeeded
    names = [record.event.value for record in seen if record.run_uuid == "run-1"]
    assert names == ["pre_compile", "post_compile", "pre_run", "post_run", "cleanup"]


FORK_PROBE = """
import sys
preloaded = [name for name in ("threading", "random", "pyseccomp") if name in sys.modules]
import random, threading
print(preloaded, threading.current_thread().name, random.random())
def draw(canvas):
    pass
"""


def test_children_start_without_modules_that_hook_fork_yet_can_import_them(
    runner: RunnerService,
) -> None:
    # threading and random run at-fork handlers in every child of a zygote that has them; only
    # pyseccomp (through ctypes.util) brought them in, and it now stays out of the zygote.
    lines = []
    for _ in range(2):
        result = runner.run(
            RunRequest(str(uuid.uuid4()), FORK_PROBE, FiddleOptions(width=8, height=8))
        )
        assert result.succeeded, result.runtime_error
        lines.append(result.text.split())
    assert [line[:2] for line in lines] == [["[]", "MainThread"]] * 2
    assert lines[0][2] != lines[1][2]  # each child seeds its own random stream


def test_a_limit_is_a_killed_event_and_one_json_log_line(
    runner: RunnerService, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.runs")
    runner.events.subscribe(JsonLogHook(logger))
    with caplog.at_level(logging.INFO, logger="test.runs"):
        result = runner.run(
            RunRequest("run-2", "import os\nos.fork()\n", FiddleOptions(width=8, height=8))
        )
    assert result.runtime_error == "forbidden system call: clone"
    assert result.limit == Limit("syscall", detail="clone")
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "test.runs"]
    assert line["run_uuid"] == "run-2" and line["limit"] == "syscall" and line["ok"] is False
    assert "killed" in line["events"] and line["events"][-1] == "cleanup"


def test_the_service_passes_the_hosts_result_on_unread(
    runner: RunnerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host writes the RunResult; the service answers with its bytes, parsing nothing."""

    def never(*args: object) -> None:
        raise AssertionError("the runner service parsed a result")

    request = RunRequest("run-4", "import os\nos.fork()\n", FiddleOptions(width=8, height=8))
    monkeypatch.setattr(RunResult, "from_json", never)
    monkeypatch.setattr(RunResult, "from_bytes", never)
    answer = runner.answer(request, request.to_bytes())
    monkeypatch.undo()
    result = RunResult.from_bytes(answer)
    assert result.run_uuid == "run-4" and result.runid == runner.build.runid
    assert result.limit == Limit("syscall", detail="clone") and not result.outputs


def test_a_request_of_another_protocol_version_is_refused_saying_so() -> None:
    old = {**RunRequest("r", NO_DRAW).to_json(), "protocol": 1}
    with runner_process(hosts=1, max_waiting=8) as url:
        answer = requests.post(f"{url}/run", json=old, timeout=60)
        version = requests.get(f"{url}/version", timeout=10).json()
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "Bad protocol message: the message is protocol version 1, this side speaks 3: the "
        "functions and the runners must be deployed together."
    )
    assert RunnerInfo.from_json(version).protocol == PROTOCOL_VERSION == 3


def test_a_failing_hook_does_not_fail_the_run(runner: RunnerService) -> None:
    def broken(record: EventRecord) -> None:
        raise RuntimeError("hook bug")

    runner.events.subscribe(broken)
    assert runner.run(RunRequest("run-3", "def draw(canvas):\n    pass\n")).succeeded


def test_metrics_and_health_name_the_sandbox() -> None:
    with runner_process(hosts=1, max_waiting=8) as url:
        requests.post(f"{url}/run", json=request_json("def draw(canvas):\n    pass\n"), timeout=60)
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        health = requests.get(f"{url}/healthz", timeout=10).json()
    assert "fiddle_runner_run_seconds_bucket" in metrics
    assert 'fiddle_runner_events_total{event="post_run"} 1.0' in metrics
    assert health["sandbox"] in ("nspawn", "namespaces", "runsc") and health["hosts"] == 1


@pytest.mark.parametrize("backend", ["namespaces", "nspawn"])
def test_a_bind_below_tmp_is_readable_by_the_run(backend: str, tmp_path: Path) -> None:
    """A Python install below /tmp (a clone's venv) is bound into the sandbox under a tmpfs; its
    parents must let the run's throwaway uid through."""
    shared = Path(tempfile.mkdtemp(prefix="fiddle-bind-", dir="/tmp")) / "deep" / "dir"
    shared.mkdir(parents=True)
    shared.chmod(0o755)
    (shared / "data.txt").write_text("through\n")
    base = load_policy()
    container = dataclasses.replace(base.container, bind_ro=(*base.container.bind_ro, str(shared)))
    policy = dataclasses.replace(base, container=container)
    code = f"print(open({str(shared / 'data.txt')!r}).read(), end='')\n" + NO_DRAW
    try:
        with started_runner(backend, policy, tmp_path, pool_size=1) as service:
            result = service.run(RunRequest(run_uuid=uuid.uuid4().hex, code=code))
    finally:
        shutil.rmtree(shared.parents[1])
    assert result.runtime_error == "" and result.text == "through\n"


def test_readable_by_others_needs_every_parent_searchable() -> None:
    # Not pytest's tmp_path: its base directory is private to root.
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        inner = root / "outer" / "lib"
        inner.mkdir(parents=True)
        inner.chmod(0o755)
        assert readable_by_others(inner)
        (root / "outer").chmod(0o700)  # as /root is, above a pyenv install
        assert not readable_by_others(inner)
        (root / "outer").chmod(0o755)
        inner.chmod(0o711)  # searchable but not listable
        assert not readable_by_others(inner)
        assert not readable_by_others(root / "missing")


GROUPS_PROBE = """
with open('/proc/self/status') as status:
    groups = [line for line in status if line.startswith('Groups:')]
print(groups[0].split(':')[1].strip() or 'none')
def draw(canvas):
    pass
"""


@pytest.mark.parametrize("backend", ["namespaces", "nspawn"])
def test_runs_hold_no_supplementary_group_of_whoever_started_the_runner(
    backend: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give this process supplementary groups")
    before = os.getgroups()
    os.setgroups([4242])  # the hosts inherit it; their zygote drops it for every child
    try:
        with started_runner(backend, load_policy(), tmp_path, pool_size=1) as service:
            result = service.run(RunRequest(uuid.uuid4().hex, GROUPS_PROBE))
    finally:
        os.setgroups(before)
    assert result.runtime_error == "" and result.text == "none\n", result


# --------------------------------------------------------------------------------------------
# Sleepers and the queue (issue 19): more hosts than cores, and no run queued past the wall clock

SLEEPER = "import time\ntime.sleep({seconds})\ndef draw(canvas):\n    pass\n# {n}\n"
DRAW = "def draw(canvas):\n    canvas.drawCircle(4, 4, 3, skia.Paint())\n"


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_default_pool_keeps_more_hosts_than_cores() -> None:
    cores = os.cpu_count() or 1
    assert default_pool_size() == 2 * cores + 2
    assert RunnerSettings().pool_size == default_pool_size()


@pytest.mark.slow
def test_sleepers_cannot_starve_other_runs(tmp_path: Path) -> None:
    """Twice as many programs that only sleep as there are cores hold their hosts; another
    visitor's run still finishes while every one of them sleeps."""
    sleepers = 2 * (os.cpu_count() or 1)
    size = default_pool_size()
    with (
        started_runner("auto", load_policy(), tmp_path, size) as service,
        ThreadPoolExecutor(sleepers) as pool,
    ):
        sleeping = [
            pool.submit(service.run, RunRequest(uuid.uuid4().hex, SLEEPER.format(seconds=10, n=n)))
            for n in range(sleepers)
        ]
        wait_for(lambda: service.pool.busy == sleepers)
        result = service.run(RunRequest(uuid.uuid4().hex, DRAW, FiddleOptions(width=8, height=8)))
        assert result.succeeded and result.outputs["cpu.png"].startswith(b"\x89PNG")
        assert not any(future.done() for future in sleeping), "the visitor waited for sleepers"
        assert all(future.result().succeeded for future in sleeping)


def test_a_run_that_could_not_start_in_time_is_turned_away_at_once() -> None:
    """One host, held by a sleeper: one run may wait for it (it will start within the wall clock);
    the next is answered 429 with Retry-After at once, while the sleeper still sleeps."""
    with runner_process(hosts=1, max_waiting=16) as url, ThreadPoolExecutor(2) as pool:

        def send(seconds: float, n: int) -> requests.Response:
            body = request_json(SLEEPER.format(seconds=seconds, n=n))
            return requests.post(f"{url}/run", json=body, timeout=60)

        def health() -> dict[str, int]:
            return dict(requests.get(f"{url}/healthz", timeout=10).json())

        sleeper = pool.submit(send, 4, 1)
        wait_for(lambda: health()["busy"] == 1)
        waiter = pool.submit(send, 0, 2)
        wait_for(lambda: health()["waiting"] == 1)
        turned_away = send(0, 3)
        assert not sleeper.done(), "the answer came only after the sleeper ended"
        assert turned_away.status_code == 429, turned_away.text
        assert int(turned_away.headers["Retry-After"]) >= 1
        assert turned_away.json()["error"] == "Every sandbox is busy; try again shortly."
        assert health()["turned_away"] == 1
        assert sleeper.result().status_code == 200 and waiter.result().status_code == 200
        # A run turned away never started: the metrics count two runs, not three.
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert 'fiddle_runner_events_total{event="cleanup"} 2.0' in metrics
