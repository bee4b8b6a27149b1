"""Jobs against real parts: a real runner holding the default Skia builds (m87, m138, m144) behind
a counting proxy, the functions over a real data directory (SQLite, or the Firestore emulator),
workers as threads and as `fiddle worker` processes.

Each test's fiddles are tiny programs stored directly (their code, as a run would store it), so
every run the runner sees is one a job sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from fiddle_protocol.messages import RunRequest
from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.config import Settings
from functions.hashing import fiddle_hash
from functions.jobs.service import BuildWatch
from functions.services import services
from runner_vm.builds.catalog import BuildsDir
from tests.conftest import ROOT, runner_process
from tests.firestore_emulator import (  # noqa: F401 - fixtures
    PROJECT,
    _firestore_session_client,
    firestore_client,
    firestore_emulator,
)
from tests.helpers import M87, M138, M144, numbered
from tests.helpers import STAR as BUILD_CHANGED_STAR
from tests.runner_proxy import RunnerProxy, runner_proxy

LISTING = "HEAD = m144 (144.1), m138 (138.0), m87 (87.9)"
OPTIONS = FiddleOptions()

RECT = """def draw(canvas):  # {i}
    canvas.drawRect(skia.Rect.MakeXYWH(16, 16, 96, 64), skia.Paint(Color=skia.ColorBLUE))
"""
# The star whose edges changed between m87 and m144, numbered.
STAR = numbered(BUILD_CHANGED_STAR)
# Runs at m87, fails at m144 (the program refuses the newer Skia, as a removed API would).
BREAKS = """def draw(canvas):  # {i}
    if skia.__version__.startswith("144"):
        raise RuntimeError("gone in m144: case {i}")
    canvas.clear(skia.ColorGREEN)
"""
# Fails at m87 (no SamplingOptions there), runs at m144: a fix, not an alarm.
SAMPLING = """def draw(canvas):  # {i}
    sampling = skia.SamplingOptions(skia.FilterMode.kLinear)
    canvas.clear(skia.ColorRED)
"""


@pytest.fixture(scope="module")
def builds_runner(default_builds: Path) -> Iterator[str]:
    with runner_process(hosts=2, builds_dir=default_builds, extra=("--build-hosts", "2")) as url:
        yield url


@pytest.fixture
def proxy(builds_runner: str) -> Iterator[RunnerProxy]:
    with runner_proxy(builds_runner) as counting:
        yield counting


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """The document store's settings: SQLite in the data directory, or the emulator (emptied)."""
    if request.param == "sqlite":
        return {}
    request.getfixturevalue("firestore_client")
    return {"doc_store": "firestore", "project": PROJECT}


def make_app(data_dir: Path, runner: str, **settings: Any) -> Flask:
    given: dict[str, Any] = {"job_lease_seconds": 2.0, "job_poll_seconds": 0.2, **settings}
    app = create_app(Settings(data_dir=data_dir, runners=(runner,), **given))
    app.testing = True
    return app


def admin_headers(app: Flask) -> dict[str, str]:
    accounts = services(app).accounts
    if accounts.get("root") is None:
        accounts.create_user("root", "root-password", admin=True)
    return {"Authorization": f"Bearer {accounts.create_token('root', 'jobs')}"}


def store_fiddle(app: Flask, code: str) -> str:
    digest = fiddle_hash(code, OPTIONS)
    services(app).fiddles.save_code(digest, code, OPTIONS)
    return digest


def name_fiddle(app: Flask, name: str, code: str) -> str:
    digest = store_fiddle(app, code)
    root = services(app).accounts.get("root")
    assert root is not None
    services(app).named.name(name, digest, root, overwrite=False)
    return digest


def start(app: Flask, kind: str, **params: Any) -> dict[str, Any]:
    answer = app.test_client().post(
        "/_/jobs", json={"kind": kind, "params": params}, headers=admin_headers(app)
    )
    assert answer.status_code == 201, answer.json
    return answer.json  # type: ignore[no-any-return]


def job(app: Flask, job_id: str) -> dict[str, Any]:
    answer = app.test_client().get(f"/_/jobs/{job_id}", headers=admin_headers(app))
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def eventually(check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {check}")


def ended(app: Flask, job_id: str) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        found = job(app, job_id)
        return found if found["state"] in ("done", "failed", "cancelled") else None

    return eventually(final)  # type: ignore[no-any-return]


def fiddles_job(app: Flask, count: int, tag: str) -> tuple[dict[str, Any], list[str]]:
    codes = [RECT.replace("{i}", f"{tag} {i}") for i in range(count)]
    hashes = [store_fiddle(app, code) for code in codes]
    return start(app, "rerun-fiddles", hashes=hashes, builds=["HEAD"]), codes


# --------------------------------------------------------------------------------------------
# A job over 50 named fiddles at two builds


def test_fifty_named_fiddles_at_two_builds_get_their_marks(
    proxy: RunnerProxy, tmp_path: Path
) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    admin_headers(app)
    kinds = {
        "ok": (RECT, 20),
        "changed": (STAR, 10),
        "broken": (BREAKS, 15),
        "fixed": (SAMPLING, 5),
    }
    for kind, (code, count) in kinds.items():
        for i in range(count):
            name_fiddle(app, f"{kind}_{i}", code.replace("{i}", f"{kind} {i}"))
    started = start(app, "rerun-named", build="m144", previous="m87")
    assert started["params"] == {"build": M144, "previous": M87}
    assert started["progress"]["total"] == 50

    began = time.monotonic()
    assert services(app).worker.run_once()
    seconds = time.monotonic() - began
    finished = job(app, started["id"])

    assert finished["state"] == "done", finished
    assert finished["progress"]["counts"] == {"ok": 25, "changed": 10, "broken": 15}
    assert proxy.total == 100  # each fiddle once at each build, nothing twice
    print(f"\n50 named fiddles at two builds: {seconds:.1f} s, {50 / seconds:.1f} items/s")
    statuses = services(app).named_status.all()
    assert statuses["broken_3"].error == "RuntimeError: gone in m144: case broken 3"
    star = statuses["changed_0"]
    assert star.changed_pixels == 1915
    assert star.compare == f"/c/{services(app).named.get('changed_0').hash}?compare={M87},{M144}"  # type: ignore[union-attr]
    assert {statuses[f"fixed_{i}"].status for i in range(5)} == {"ok"}
    _check_named_views(app)


def _check_named_views(app: Flask) -> None:
    client = app.test_client()
    broken = client.get("/named/?status=broken").get_data(as_text=True)
    assert broken.count('href="/c/@broken_') == 15 and "@ok_" not in broken
    assert "RuntimeError: gone in m144: case broken 7" in broken
    changed = client.get("/named/?status=changed").get_data(as_text=True)
    assert changed.count('href="/c/@changed_') == 10 and f"compare={M87},{M144}" in changed
    assert client.get("/named/?status=nonsense").status_code == 400
    embedded = client.get("/e/@broken_1").json["namedStatus"]
    assert embedded["status"] == "broken" and embedded["build"] == M144
    assert client.get("/e/@ok_1").json["namedStatus"]["status"] == "ok"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "fiddle_named_broken 15.0" in metrics


def test_a_job_at_one_build_with_nothing_before_it_marks_only_failures(
    proxy: RunnerProxy, tmp_path: Path
) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    admin_headers(app)
    name_fiddle(app, "fine", RECT.replace("{i}", "x"))
    name_fiddle(app, "bad", SAMPLING.replace("{i}", "x"))
    started = start(app, "rerun-named", build="m87")
    assert started["params"] == {"build": M87, "previous": ""}
    assert services(app).worker.run_once()
    assert job(app, started["id"])["progress"]["counts"] == {"ok": 1, "failing": 1}


# --------------------------------------------------------------------------------------------
# Crashes, races, cancelling


def worker_process(data_dir: Path, runner: str, backend: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FIDDLE_DATA_DIR": str(data_dir),
        "FIDDLE_RUNNERS": runner,
        "FIDDLE_JOB_LEASE_SECONDS": "2",
        "FIDDLE_JOB_POLL_SECONDS": "0.2",
        "FIDDLE_JOB_RUNS_IN_FLIGHT": "1",  # the held run is then the only one in flight
        "FIDDLE_DOC_STORE": backend.get("doc_store", "sqlite"),
    }
    command = [sys.executable, "-m", "functions.cli", "worker"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def test_a_worker_killed_mid_job_leaves_it_to_another_that_does_each_item_once(
    proxy: RunnerProxy, tmp_path: Path, backend: dict[str, str]
) -> None:
    app = make_app(tmp_path / "data", proxy.url, **backend)
    started, codes = fiddles_job(app, 12, "kill")
    proxy.hold_at, proxy.forward_held = 6, False
    first = worker_process(tmp_path / "data", proxy.url, backend)
    try:
        assert proxy.held.wait(60), "the worker never reached the sixth run"
        holder = job(app, started["id"])["worker"]
        assert job(app, started["id"])["progress"]["done"] == 5
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        proxy.release.set()
    second = worker_process(tmp_path / "data", proxy.url, backend)
    try:
        finished = ended(app, started["id"])
    finally:
        second.terminate()
        second.wait(10)
    assert finished["state"] == "done" and finished["progress"]["counts"] == {"ok": 12}
    assert finished["worker"] != holder
    assert dict(proxy.runs) == {code: 1 for code in codes}


def test_two_workers_racing_over_ten_jobs_run_each_once(
    proxy: RunnerProxy, tmp_path: Path, backend: dict[str, str]
) -> None:
    apps = [make_app(tmp_path / "data", proxy.url, **backend) for _ in range(2)]
    jobs = [fiddles_job(apps[0], 1, f"race {i}") for i in range(10)]
    workers = [services(app).worker for app in apps]
    threads = [_thread(worker.run_forever) for worker in workers]
    try:
        finished = [ended(apps[0], started["id"]) for started, _ in jobs]
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(30)
    assert all(f["state"] == "done" and f["progress"]["counts"] == {"ok": 1} for f in finished)
    assert dict(proxy.runs) == {codes[0]: 1 for _, codes in jobs}
    assert {f["worker"] for f in finished} <= {w.name for w in workers}


def _thread(target: Callable[[], None]) -> Any:
    import threading

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_cancelling_during_a_run_ends_cancelled_with_its_progress_kept(
    proxy: RunnerProxy, tmp_path: Path, backend: dict[str, str]
) -> None:
    app = make_app(tmp_path / "data", proxy.url, job_runs_in_flight=1, **backend)
    started, _ = fiddles_job(app, 12, "cancel")
    proxy.hold_at = 4
    worker = services(app).worker
    thread = _thread(worker.run_forever)
    headers = admin_headers(app)
    try:
        assert proxy.held.wait(60)
        answer = app.test_client().post(f"/_/jobs/{started['id']}/cancel", headers=headers)
        assert answer.status_code == 202 and answer.json["state"] == "cancel"
        proxy.release.set()
        finished = ended(app, started["id"])
    finally:
        worker.stop()
        thread.join(30)
    assert finished["state"] == "cancelled"
    assert finished["progress"]["done"] == 4 and finished["progress"]["counts"] == {"ok": 4}
    assert proxy.total == 4
    again = app.test_client().post(f"/_/jobs/{started['id']}/cancel", headers=headers)
    assert again.status_code == 409
    assert again.json["error"] == (
        f"Job {started['id']} is cancelled already; only a queued or running job can be cancelled."
    )


def test_a_queued_job_is_cancelled_at_once(proxy: RunnerProxy, tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    started, _ = fiddles_job(app, 2, "queued")
    answer = app.test_client().post(f"/_/jobs/{started['id']}/cancel", headers=admin_headers(app))
    assert answer.status_code == 202 and answer.json["state"] == "cancelled"
    assert not services(app).worker.run_once()
    assert proxy.total == 0


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"kind": "reboot"}, "Unknown job kind 'reboot': use one of rerun-named, rerun-fiddles."),
        ({"kind": "rerun-named", "params": {"build": "m99"}},
         f"Skia version m99 is not available; the versions here are {LISTING}."),
        ({"kind": "rerun-named", "params": {"build": 87}},
         "build must be a version such as HEAD, m87, 87.9 or a runid."),
        ({"kind": "rerun-named", "params": {"build": "m87", "previous": "87.9"}},
         "previous must be another build than build."),
        ({"kind": "rerun-named", "params": {"bild": "m87"}},
         "Unknown parameter 'bild': this kind takes build, previous."),
        ({"kind": "rerun-named", "params": []}, "params must be a JSON object."),
        ({"kind": "rerun-fiddles", "params": {"hashes": []}},
         "hashes must be a non-empty list of fiddle hashes."),
        ({"kind": "rerun-fiddles", "params": {"hashes": ["0" * 32]}},
         f"There is no fiddle {'0' * 32}."),
        ({"kind": "rerun-fiddles", "params": {"hashes": ["x"], "builds": "some"}},
         "There is no fiddle x."),
        ({"kind": "rerun-named", "extra": 1},
         'Unknown field \'extra\': a job is {"kind", "params"}.'),
    ],
)  # fmt: skip
def test_bad_jobs_are_a_400_that_says_why_and_start_nothing(
    proxy: RunnerProxy, tmp_path: Path, body: dict[str, Any], error: str
) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    answer = app.test_client().post("/_/jobs", json=body, headers=admin_headers(app))
    assert answer.status_code == 400, answer.json
    assert answer.json["error"] == error
    assert services(app).jobs.newest() == []


def test_jobs_are_for_administrators_only(proxy: RunnerProxy, tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    client = app.test_client()
    assert client.post("/_/jobs", json={"kind": "rerun-named"}).status_code == 401
    services(app).accounts.create_user("ann", "ann-password")
    token = services(app).accounts.create_token("ann")
    user = {"Authorization": f"Bearer {token}"}
    assert client.post("/_/jobs", json={"kind": "rerun-named"}, headers=user).status_code == 403
    assert client.get("/_/jobs", headers=user).status_code == 403
    assert client.get("/admin/jobs", headers=user).status_code == 403


def test_unknown_jobs_are_a_404(proxy: RunnerProxy, tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", proxy.url)
    client, headers = app.test_client(), admin_headers(app)
    assert (
        client.get("/_/jobs/nothing", headers=headers).json["error"] == "There is no job nothing."
    )
    assert client.post("/_/jobs/nothing/cancel", headers=headers).status_code == 404
    assert client.get("/_/jobs?limit=0", headers=headers).status_code == 400


# --------------------------------------------------------------------------------------------
# Interactive runs first; a new build starts rerun-named by itself


def test_a_background_run_is_refused_while_it_would_take_an_interactive_runs_host(
    builds_runner: str,
) -> None:
    """Two hosts: while one runs an interactive fiddle, the other stays free for the next one."""
    slow = "import time\n\ndef draw(canvas):\n    time.sleep(1.5)\n"
    quick = "def draw(canvas):\n    canvas.clear(skia.ColorBLUE)\n"

    def post(code: str, background: bool) -> requests.Response:
        request = RunRequest(str(uuid.uuid4()), code, OPTIONS, build=M144, background=background)
        return requests.post(f"{builds_runner}/run", data=request.to_bytes(), timeout=30)

    with ThreadPoolExecutor(1) as pool:
        interactive = pool.submit(post, slow, False)
        time.sleep(0.5)
        refused = post(quick, True)
        assert post(quick, False).status_code == 200  # the spare host takes it at once
        assert interactive.result().status_code == 200
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert post(quick, True).status_code == 200  # both hosts idle again: one may go to a job


def test_a_new_head_build_starts_rerun_named_by_itself(copied_builds: Path, tmp_path: Path) -> None:
    """As `fiddle builds add` does it: the build's directory moves into place, then is listed."""
    builds = BuildsDir(copied_builds)
    aside = tmp_path / "aside"
    builds.directory(M144).rename(aside)
    builds.listed([M87, M138])
    with runner_process(hosts=2, builds_dir=copied_builds, extra=("--build-hosts", "1")) as url:
        app = make_app(tmp_path / "data", url)
        admin_headers(app)
        name_fiddle(app, "rect", RECT.replace("{i}", "watch"))
        watch = services(app).worker.on_idle
        assert isinstance(watch, BuildWatch)
        watch()  # the first look only records the builds there are
        assert services(app).jobs.newest() == []
        aside.rename(builds.directory(M144))
        builds.listed([M87, M138, M144])

        def started() -> list[Any]:
            watch._checked = 0.0
            watch()
            return services(app).jobs.newest()

        (new,) = eventually(started, timeout=30)
        assert (new.id, new.who) == ("rerun-named-2026-10-20T094700Z-144.1", "(new build)")
        assert new.params == {"build": M144, "previous": M138} and new.items == ("rect",)
        assert services(app).worker.run_once()
        assert job(app, new.id)["progress"]["counts"] == {"ok": 1}
        watch._checked = 0.0
        watch()
        assert len(services(app).jobs.newest()) == 1


# --------------------------------------------------------------------------------------------
# fiddle jobs


def test_fiddle_jobs_starts_watches_lists_and_cancels(
    proxy: RunnerProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from werkzeug.serving import make_server

    from functions.cli import main

    app = make_app(tmp_path / "data", proxy.url)
    token = admin_headers(app)["Authorization"].split()[1]
    hashes = [store_fiddle(app, RECT.replace("{i}", f"cli {i}")) for i in range(2)]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    serving, worker = _thread(server.serve_forever), services(app).worker
    working = _thread(worker.run_forever)
    jobs = ["jobs", "--server", url, "--token", token]
    try:
        started = [*jobs, "start", "rerun-fiddles", "--hash", hashes[0], "--hash", hashes[1]]
        assert main([*started, "--version", "m87", "--version", "HEAD", "--watch"]) == 0
        out = capsys.readouterr().out
        job_id = out.split()[2].rstrip(":")
        assert out.splitlines() == [
            f"started job {job_id}: rerun-fiddles, 4 items",
            f"job {job_id} done: ok 4",
        ]
        assert main([*jobs, "list"]) == 0
        listed = capsys.readouterr().out
        assert listed.startswith(f"{job_id}  rerun-fiddles  done       4/4 (0 failed)  ")
        assert main([*jobs, "cancel", job_id]) == 1
        assert capsys.readouterr().err == (
            f"fiddle jobs: Job {job_id} is done already; only a queued or running job can be"
            " cancelled.\n"
        )
        assert main([*jobs, "start", "reboot"]) == 1
        assert "Unknown job kind 'reboot'" in capsys.readouterr().err
        assert main(["jobs", "--server", url, "--token", "", "list"]) == 1
        assert capsys.readouterr().err == "fiddle jobs: Sign in to do this.\n"
    finally:
        worker.stop()
        server.shutdown()
        working.join(30)
        serving.join(30)


def test_a_worker_stopped_mid_job_gives_it_back_and_the_next_call_resumes(
    proxy: RunnerProxy, tmp_path: Path
) -> None:
    """As the scheduled function does at the end of its time (and `fiddle worker` on SIGTERM)."""
    app = make_app(tmp_path / "data", proxy.url, job_runs_in_flight=1, job_lease_seconds=30.0)
    started, codes = fiddles_job(app, 6, "tick")
    proxy.hold_at = 3
    worker = services(app).worker
    working = _thread(lambda: worker.run_for(60))
    assert proxy.held.wait(60)
    worker.stop()
    proxy.release.set()
    working.join(30)
    given_back = job(app, started["id"])
    assert given_back["state"] == "running" and given_back["lease_until"] is None
    assert given_back["progress"]["done"] == 3  # the run in flight finished and was recorded
    worker.run_for(60)
    assert job(app, started["id"])["progress"]["counts"] == {"ok": 6}
    assert dict(proxy.runs) == {code: 1 for code in codes}


def test_starting_a_job_while_no_runner_answers_is_a_503_and_starts_nothing(
    tmp_path: Path,
) -> None:
    from functions.devserver import free_port

    app = make_app(tmp_path / "data", f"http://127.0.0.1:{free_port()}")
    answer = app.test_client().post(
        "/_/jobs", json={"kind": "rerun-named"}, headers=admin_headers(app)
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.json["error"] == (
        "No runner is available to say which Skia builds there are; try again shortly."
    )
    assert services(app).jobs.newest() == []
