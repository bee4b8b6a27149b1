"""Warm sandbox hosts per Skia build (runner_vm/service/warm.py), with the real default builds in
real sandboxes: each host sees its own build alone; runs go to the build they name; builds start
on demand and leave by the LRU cap; builds come and go while runs are in flight."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from fiddle_protocol import outputs
from fiddle_protocol.checks import changed_and_total, png_size
from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.builds.catalog import BuildsDir
from runner_vm.builds.install import remove
from runner_vm.policy import load_policy
from runner_vm.service.runner import RunnerService
from runner_vm.service.warm import UnknownBuild
from tests.conftest import runner_process, started_runner
from tests.helpers import M87, M138, M144

POLICY = load_policy()
VERSIONS = {M87: "87.9", M138: "138.0", M144: "144.1"}
SMALL = FiddleOptions(width=32, height=32)
WHO = """
import sys, os
import numpy, PIL
try:
    import flask
    flask_found = "yes"
except ImportError:
    flask_found = "no"
print(skia.__version__, numpy.__version__, PIL.__version__, flask_found)
print(":".join(p for p in sys.path if "python3" not in p and not p.endswith(".zip")))
print(os.path.dirname(skia.__file__))
def draw(canvas):
    canvas.drawCircle(16, 16, 8, skia.Paint(AntiAlias=True))
"""
SAMPLING = """
def draw(canvas):
    surface = skia.Surface(8, 8)
    surface.getCanvas().clear(skia.ColorRED)
    image = surface.makeImageSnapshot()
    sampling = skia.SamplingOptions(skia.FilterMode.kLinear)
    canvas.drawImageRect(image, skia.Rect(0, 0, 32, 32), sampling)
"""
SLOW = "import time\ntime.sleep(2)\nprint(skia.__version__)\ndef draw(canvas):\n    pass\n"


def at(runner: RunnerService, build: str, code: str, **fields: object) -> RunResult:
    return runner.run(RunRequest(uuid.uuid4().hex, code, SMALL, build=build, **fields))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runner(
    default_builds: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunnerService]:
    state = tmp_path_factory.mktemp("warm")
    with started_runner("auto", POLICY, state, 1, default_builds, build_hosts=1) as service:
        yield service


def test_each_host_sees_its_own_build_and_nothing_else(runner: RunnerService) -> None:
    for runid, version in VERSIONS.items():
        result = at(runner, runid, WHO)
        assert result.succeeded, result.runtime_error
        assert result.runid == runid
        versions, path, skia_dir = result.text.splitlines()
        assert versions == f"{version} 2.4.6 13.0.0 no"
        if runner.backend.name == "none":
            assert path.split(":")[0].endswith(runid.replace(":", ""))
        else:
            assert path == "/opt/fiddle/build:/opt/fiddle:/opt/fiddle/lib"
            assert skia_dir == "/opt/fiddle/build"


def test_an_api_missing_at_m87_is_a_clear_error_there_and_renders_later(
    runner: RunnerService,
) -> None:
    old = at(runner, M87, SAMPLING)
    assert old.runtime_error.splitlines()[-1] == (
        "AttributeError: module 'skia' has no attribute 'SamplingOptions'"
    )
    assert 'File "draw.py", line 6, in draw' in old.runtime_error and not old.outputs
    for runid in (M138, M144):
        new = at(runner, runid, SAMPLING)
        assert new.succeeded, new.runtime_error
        assert png_size(new.outputs["cpu.png"]) == (32, 32)


def test_a_build_the_runner_does_not_have_is_refused_naming_those_it_has(
    runner: RunnerService,
) -> None:
    with pytest.raises(UnknownBuild) as refused:
        at(runner, "2030-01-01T00:00:00Z-200.0", WHO)
    assert str(refused.value) == (
        "This runner has no Skia build 2030-01-01T00:00:00Z-200.0; it has "
        "HEAD = m144 (144.1), m138 (138.0), m87 (87.9)."
    )


def test_runs_at_three_builds_at_once(runner: RunnerService) -> None:
    """One run per build at a time (each build has one host here), three rounds."""
    order = [M87, M138, M144]
    for _ in range(3):
        with ThreadPoolExecutor(len(order)) as pool:
            results = list(pool.map(lambda runid: at(runner, runid, WHO), order))
        for runid, result in zip(order, results, strict=True):
            assert result.succeeded and result.runid == runid, result.runtime_error
            assert result.text.startswith(VERSIONS[runid] + " ")


def test_the_runner_describes_its_builds_and_which_are_warm(runner: RunnerService) -> None:
    at(runner, M87, WHO)
    info = runner.describe()
    assert (info.runid, info.skia_python, info.warm_builds) == (M144, "144.1", 2)
    builds = {build.runid: build for build in info.builds}
    assert [build.runid for build in info.builds] == [M144, M138, M87]
    assert builds[M144].head and builds[M144].warm and builds[M144].hosts == 1
    assert builds[M87].warm and builds[M87].hosts == 1 and not builds[M87].head
    assert info.hosts == sum(build.hosts for build in info.builds)


def test_the_diff_task_counts_changed_pixels_in_the_sandbox(runner: RunnerService) -> None:
    star = "def draw(canvas):\n    canvas.drawCircle(16, 16, 9, skia.Paint(AntiAlias=True))\n"
    first, second = (at(runner, runid, star).outputs["cpu.png"] for runid in (M87, M144))
    compared = at(runner, "", "", task=outputs.DIFF_IMAGES, source_png=first, compare_png=second)
    assert compared.succeeded, compared.runtime_error
    changed, total = changed_and_total(compared.outputs["diff.json"], SMALL.size)
    assert total == 32 * 32 and changed > 0
    assert png_size(compared.outputs["diff.png"]) == SMALL.size
    same = at(runner, "", "", task=outputs.DIFF_IMAGES, source_png=first, compare_png=first)
    assert changed_and_total(same.outputs["diff.json"], SMALL.size) == (0, 32 * 32)
    junk = at(runner, "", "", task=outputs.DIFF_IMAGES, source_png=b"junk", compare_png=first)
    assert junk.runtime_error == "One of the images is not a PNG that can be decoded."


def test_the_runner_answers_404_for_a_build_it_does_not_have(default_builds: Path) -> None:
    with runner_process(hosts=1, builds_dir=default_builds) as url:
        request = RunRequest("u", WHO, SMALL, build="2030-01-01T00:00:00Z-200.0")
        answer = requests.post(f"{url}/run", data=request.to_bytes(), timeout=60)
        version = requests.get(f"{url}/version", timeout=10).json()
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("This runner has no Skia build 2030-01-01T00:00:00Z")
    assert [build["runid"] for build in version["builds"]] == [M144, M138, M87]


# --------------------------------------------------------------------------------------------
# Builds coming and going


def host_pids(runner: RunnerService, runid: str) -> list[int]:
    return [host.process.pid for host in list(runner.builds.pool(runid)._idle.queue)]


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def eventually(check: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.1)


def test_the_least_recently_used_build_leaves_when_one_more_starts(
    default_builds: Path, tmp_path: Path
) -> None:
    with started_runner(
        "auto", POLICY, tmp_path, 1, default_builds, build_hosts=1, warm_builds=1
    ) as runner:
        at(runner, M87, WHO)
        old_hosts = host_pids(runner, M87)
        at(runner, M138, WHO)
        warm = {build.runid: build.warm for build in runner.describe().builds}
        assert warm == {M144: True, M138: True, M87: False}
        eventually(lambda: all(gone(pid) for pid in old_hosts))
        again = at(runner, M87, WHO)  # started again on demand
        assert again.succeeded and again.text.startswith("87.9 ")
        warm = {build.runid: build.warm for build in runner.describe().builds}
        assert warm == {M144: True, M138: False, M87: True}


def test_removing_head_while_its_runs_are_in_flight_loses_nothing(
    copied_builds: Path, tmp_path: Path
) -> None:
    builds = BuildsDir(copied_builds)
    with started_runner("auto", POLICY, tmp_path, 2, copied_builds, build_hosts=1) as runner:
        with ThreadPoolExecutor(2) as pool:
            running = [pool.submit(at, runner, "", SLOW) for _ in range(2)]
            time.sleep(0.7)
            assert runner.describe().busy == 2
            deleted_at_once = remove(builds, M144)
            results = [future.result() for future in running]
        assert not deleted_at_once  # the runs held it
        for result in results:
            assert result.succeeded and result.runid == M144 and result.text == "144.1\n"
        eventually(lambda: not builds.directory(M144).exists())
        info = runner.describe()
        assert (info.runid, [b.runid for b in info.builds]) == (M138, [M138, M87])
        after = at(runner, "", WHO)
        assert after.runid == M138 and after.text.startswith("138.0 ")
        with pytest.raises(UnknownBuild):
            at(runner, M144, WHO)


def test_a_build_added_while_the_runner_runs_becomes_head(
    copied_builds: Path, tmp_path: Path
) -> None:
    """As `fiddle builds add` does: the build's directory is moved into place, then listed (a
    directory that is not listed is a removed build, which the runner deletes)."""
    builds = BuildsDir(copied_builds)
    aside = tmp_path / "aside"
    builds.directory(M144).rename(aside)
    builds.listed([M87, M138])
    with started_runner("auto", POLICY, tmp_path, 1, copied_builds, build_hosts=1) as runner:
        assert runner.describe().runid == M138
        aside.rename(builds.directory(M144))
        builds.listed([M87, M138, M144])
        eventually(lambda: runner.describe().runid == M144)
        assert at(runner, "", WHO).text.startswith("144.1 ")
        eventually(lambda: runner.builds.pool(M144).size == 1)


def test_without_builds_the_runner_renders_with_its_own_skia_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from importlib import metadata

    with (
        caplog.at_level(logging.WARNING, logger="runner_vm.service.warm"),
        started_runner("auto", POLICY, tmp_path, 1, tmp_path / "none") as runner,
    ):
        result = at(runner, "", "print(skia.__version__)\ndef draw(canvas):\n    pass\n")
    own = metadata.version("skia-python")
    assert result.succeeded and result.text == f"{own}\n"
    [warning] = [r.getMessage() for r in caplog.records if "no Skia build" in r.getMessage()]
    assert warning.startswith(f"no Skia build is installed in {tmp_path / 'none'}: rendering with")


def test_settings_that_need_more_uids_than_a_container_has_are_refused() -> None:
    from runner_vm.service.warm import WarmSettings, check_capacity

    with pytest.raises(ValueError, match="more than the 45 whose uids the sandbox policy has"):
        check_capacity(WarmSettings(head_hosts=6, build_hosts=4, warm_builds=8), POLICY)
    check_capacity(WarmSettings(head_hosts=6), POLICY)
