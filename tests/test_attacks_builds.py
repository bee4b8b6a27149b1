"""The attack suite against every Skia build's hosts (issue 15): the cases whose containment depends
on the Python, Skia, numpy and Pillow inside the sandbox, run at each default build, on every
container backend, with the same guard first (tests/test_attacks.py).

A host of one build must contain a hostile program exactly as HEAD's does: the same container,
seccomp filter and limits, whatever its Skia can do. Besides the shared cases, each build's host
must show nothing of the runner's environment or of the other builds.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("skia")
pytest.importorskip("pyseccomp")

from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.builds.catalog import BuildsDir
from runner_vm.service.runner import RunnerService
from tests.conftest import DEFAULT_BUILDS, started_runner
from tests.test_attacks import (
    ATTACKS,
    BACKENDS,
    HEALTHY,
    NO_DRAW,
    POLICY,
    Attack,
    describe,
    prints,
    tried,
)

pytestmark = pytest.mark.attack

# What a build's own Python and Skia take part in containing: resource limits met by numpy and
# Skia, Python's process helpers, Skia's file APIs, writes into the build, the result pipe.
BUILD_DEPENDENT = (
    "limits_in_place", "fork_flood", "thread_flood", "multiprocessing_process",
    "numpy_allocation", "skia_huge_bitmap", "python_recursion", "c_stack_overflow",
    "constant_folding_repeat", "read_host_secrets", "runner_sources_readable_not_writable",
    "overwrite_skia_build", "overwrite_skia_through_mmap", "replace_skia_build", "hardlink_skia",
    "os_system", "subprocess_run", "posix_spawn", "ctypes_libc_system",
    "process_start_refusal_caught", "ctypes_raw_execve", "segfault", "kill_parent",
    "replace_sigsys_handler", "block_sigsys", "skia_data_read_secret", "skia_image_open",
    "skia_filewstream", "skia_image_save", "forge_result_frame", "huge_outputs",
)  # fmt: skip
BY_NAME = {attack.name: attack for attack in ATTACKS}
RUNIDS = sorted((build.runid for build in BuildsDir(DEFAULT_BUILDS).builds()), reverse=True)

OWN_BUILD_ONLY = Attack(
    "own_build_only", "container",
    tried(f"""
    import os, sys
    for name in ('flask', 'requests', 'pytest', 'functions'):
        attempt(name, lambda: __import__(name))
    for path in ({sys.prefix!r}, {str(DEFAULT_BUILDS)!r}):
        attempt('runner environment or builds', lambda: os.listdir(path))
    print(sorted(os.listdir('/opt/fiddle')))
    """),
    prints(
        "flask ModuleNotFoundError", "requests ModuleNotFoundError", "pytest ModuleNotFoundError",
        "functions ModuleNotFoundError", "runner environment or builds FileNotFoundError",
        "runner environment or builds FileNotFoundError",
        "['build', 'fiddle_protocol', 'lib', 'runner_vm']",
    ),
)  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, default_builds: Path
) -> Iterator[RunnerService]:
    state = tmp_path_factory.mktemp(f"builds-{request.param}")
    with started_runner(
        request.param, POLICY, state, 1, default_builds, build_hosts=1, warm_builds=len(RUNIDS)
    ) as sandboxed:
        for runid in RUNIDS:
            guard_at(sandboxed, runid)
        yield sandboxed


def run_at(runner: RunnerService, runid: str, code: str, **options: object) -> RunResult:
    code = textwrap.dedent(code)
    if "def draw" not in code:
        code += NO_DRAW
    sized = FiddleOptions(**{"width": 64, "height": 64, **options})  # type: ignore[arg-type]
    return runner.run(RunRequest(uuid.uuid4().hex, code, sized, build=runid))


def guard_at(runner: RunnerService, runid: str) -> None:
    """tests/test_attacks.py's guard, at this build: no hostile case runs without it."""
    from tests import test_attacks

    original = test_attacks.run
    test_attacks.run = lambda service, code, **options: run_at(service, runid, code, **options)  # type: ignore[assignment]
    try:
        test_attacks.guard(runner)
    finally:
        test_attacks.run = original


@pytest.mark.parametrize("runid", RUNIDS)
@pytest.mark.parametrize(
    "attack", [BY_NAME[name].param() for name in BUILD_DEPENDENT] + [OWN_BUILD_ONLY.param()]
)
def test_attack_at_every_build(runner: RunnerService, runid: str, attack: Attack) -> None:
    pool = runner.builds.pool(runid)
    replaced = pool.replaced
    result = run_at(runner, runid, attack.code, **attack.options)
    expected = attack.by_backend.get(runner.backend.name, attack.check)
    if isinstance(expected, str):
        try:
            attack.check(result)
        except AssertionError:
            pytest.xfail(f"known gap under {runner.backend.name}: {expected}")
        pytest.fail(f"contained now under {runner.backend.name}: remove its by_backend entry")
    expected(result)
    healthy = run_at(runner, runid, HEALTHY)
    assert healthy.succeeded and healthy.runid == runid, describe(healthy)
    assert pool.replaced == replaced, "a sandbox host died during the attack"
