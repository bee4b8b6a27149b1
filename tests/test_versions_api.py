"""Running a fiddle at any Skia build through the functions, against real runners holding the real
default builds: `version` and `versions` in POST /_/run, GET /_/builds, failed runs recorded per
build, routing between runners that hold different builds, and the fiddle page's build picker
and compare view (the difference computed in the sandbox and stored once per pair)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fiddle_protocol.checks import png_size
from fiddle_protocol.versions import BuildInfo
from functions.app import create_app
from functions.config import Settings
from functions.hashing import fiddle_hash
from functions.routes.media import IMMUTABLE, WITHDRAWABLE
from functions.services import services
from functions.storage import layout
from runner_vm.builds.catalog import BuildsDir
from tests.conftest import copy_builds, runner_process
from tests.helpers import M87, M138, M144, SAMPLING, STAR, USES_IMAGE, bearer, png_bytes, upload

LISTING = "HEAD = m144 (144.1), m138 (138.0), m87 (87.9)"
# Solid rectangles: the same pixels at every build.
RECTS = """def draw(canvas):
    paint = skia.Paint(Color=skia.ColorBLUE)
    canvas.drawRect(skia.Rect.MakeXYWH(16, 16, 96, 64), paint)
    paint.setColor(skia.Color(0, 160, 0))
    canvas.drawIRect(skia.IRect.MakeXYWH(128, 96, 100, 120), paint)
    paint.setColor(skia.ColorRED)
    paint.setStyle(skia.Paint.kStroke_Style)
    paint.setStrokeWidth(4)
    canvas.drawRect(skia.Rect.MakeXYWH(40, 140, 60, 60), paint)
"""
SAMPLING_ERROR = "AttributeError: module 'skia' has no attribute 'SamplingOptions'"
SINGLE_KEYS = {
    "fiddleHash",
    "compile_errors",
    "runtime_error",
    "output_errors",
    "text",
    "version",
    "runid",
    "cached",
    "outputs",
    "outputList",
    "gpu",
}


@pytest.fixture(scope="module")
def builds_runner(default_builds: Path) -> Iterator[str]:
    with runner_process(hosts=2, builds_dir=default_builds, extra=("--build-hosts", "1")) as url:
        yield url


def make_app(runners: tuple[str, ...], data_dir: Path, **settings: Any) -> Flask:
    app = create_app(Settings(data_dir=data_dir, runners=runners, **settings))
    app.testing = True
    return app


@pytest.fixture
def app(builds_runner: str, tmp_path: Path) -> Flask:
    return make_app((builds_runner,), tmp_path / "data")


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def run(client: Any, code: str, **fields: Any) -> Any:
    return client.post("/_/run", json={"code": code, **fields})


# --------------------------------------------------------------------------------------------
# GET /_/builds, version


def test_builds_lists_every_build_newest_first_for_anyone(client: Any) -> None:
    answer = client.get("/_/builds", headers={"Origin": "https://elsewhere.example"})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.json == {
        "head": M144,
        "builds": [
            {"runid": M144, "skia_python": "144.1", "milestone": 144,
             "released": "2026-10-20T09:47:00Z", "head": True},
            {"runid": M138, "skia_python": "138.0", "milestone": 138,
             "released": "2025-06-09T14:00:32Z", "head": False},
            {"runid": M87, "skia_python": "87.9", "milestone": 87,
             "released": "2025-06-08T01:46:56Z", "head": False},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    "version, runid",
    [(None, M144), ("", M144), ("HEAD", M144), ("head", M144), ("m87", M87), ("87.9", M87),
     (M138, M138), ("m144", M144), ("138.0", M138)],
)  # fmt: skip
def test_a_version_names_a_build_and_the_hash_stays(
    client: Any, version: str | None, runid: str
) -> None:
    fields = {} if version is None else {"version": version}
    answer = run(client, STAR, **fields)
    assert answer.status_code == 200, answer.json
    assert set(answer.json) == SINGLE_KEYS  # the answer Skia's clients know, and ours
    assert answer.json["runid"] == runid and answer.json["version"] == runid.rsplit("-", 1)[1]
    assert answer.json["fiddleHash"] == fiddle_hash(STAR, _options())
    again = run(client, STAR, **fields).json
    assert again["cached"] and again["runid"] == runid


def _options() -> Any:
    from fiddle_protocol.options import FiddleOptions

    return FiddleOptions()


@pytest.mark.parametrize("version", ["m99", "99.1", "2030-01-01T00:00:00Z-200.0", "HEADS"])
def test_an_unknown_version_is_a_400_naming_the_versions_there_are(
    client: Any, app: Flask, version: str
) -> None:
    answer = run(client, STAR, version=version)
    assert answer.status_code == 400
    assert answer.json == {
        "error": f"Skia version {version} is not available; the versions here are {LISTING}.",
        "fields": {"version": ["is not an available Skia version"]},
    }
    assert not list(services(app).blobs.list(layout.FIDDLES))  # nothing stored


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"versions": "some"}, 'versions must be "all" or a list of 1 to 16 versions.'),
        ({"versions": []}, 'versions must be "all" or a list of 1 to 16 versions.'),
        ({"versions": ["m87"] * 17}, 'versions must be "all" or a list of 1 to 16 versions.'),
        ({"versions": [87]}, "versions must list versions of 1 to 64 letters, digits, dots, "
         "underscores, colons or dashes."),
        ({"versions": ["m87", "m99"]}, f"Skia version m99 is not available; the versions here "
         f"are {LISTING}."),
        ({"versions": "all", "version": "m87"},
         "Give version (one build) or versions (several), not both."),
    ],
)  # fmt: skip
def test_bad_versions_are_a_400_and_store_nothing(
    client: Any, app: Flask, fields: dict[str, Any], why: str
) -> None:
    answer = run(client, STAR, **fields)
    assert answer.status_code == 400 and answer.json["error"] == why
    assert list(answer.json["fields"]) == ["versions"]
    assert not list(services(app).blobs.list(layout.FIDDLES))


# --------------------------------------------------------------------------------------------
# versions: several builds at once


def test_all_versions_answers_one_result_per_build_newest_first(client: Any) -> None:
    answer = run(client, SAMPLING, versions="all")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert set(body) == {"fiddleHash", "runs"}
    assert [r["runid"] for r in body["runs"]] == [M144, M138, M87]
    assert [(r["version"], r["milestone"], r["head"]) for r in body["runs"]] == [
        ("144.1", 144, True), ("138.0", 138, False), ("87.9", 87, False),
    ]  # fmt: skip
    new, middle, old = body["runs"]
    assert new["runtime_error"] == "" == middle["runtime_error"] and not new["cached"]
    assert old["runtime_error"].splitlines()[-1] == SAMPLING_ERROR
    digest = body["fiddleHash"]
    assert client.get(f"/ai/{M144}/{digest}_raster.png").status_code == 200
    assert client.get(f"/ai/{M87}/{digest}_raster.png").status_code == 404
    # Again: from storage where it ran, run again where it failed.
    again = run(client, SAMPLING, versions=["87.9", "HEAD", "m144"]).json
    assert [(r["runid"], r["cached"]) for r in again["runs"]] == [(M144, True), (M87, False)]


def test_several_versions_run_within_the_clients_share(builds_runner: str, tmp_path: Path) -> None:
    """One run in flight per client: the builds run one after another, and all answer."""
    client = make_app(
        (builds_runner,), tmp_path / "data", runs_in_flight_per_client=1
    ).test_client()
    body = run(client, RECTS, versions="all").json
    assert [(r["runid"], r["runtime_error"]) for r in body["runs"]] == [
        (M144, ""), (M138, ""), (M87, ""),
    ]  # fmt: skip


def test_runs_at_three_builds_at_once_through_the_functions(
    builds_runner: str, tmp_path: Path
) -> None:
    client = make_app(
        (builds_runner,), tmp_path / "data", runs_in_flight_per_client=0
    ).test_client()
    asked = ["m87", "m138", "m144"] * 2
    codes = [f"{STAR}\n# {index}\n" for index in range(len(asked))]
    with ThreadPoolExecutor(len(asked)) as pool:
        answers = list(
            pool.map(
                lambda pair: run(client, pair[0], version=pair[1]), zip(codes, asked, strict=True)
            )
        )
    for version, answer in zip(asked, answers, strict=True):
        assert answer.status_code == 200, answer.json
        assert answer.json["runid"] == {"m87": M87, "m138": M138, "m144": M144}[version]


# --------------------------------------------------------------------------------------------
# Failures recorded, and the pages


def test_the_page_shows_each_builds_outputs_or_its_error(client: Any) -> None:
    digest = run(client, SAMPLING, versions="all").json["fiddleHash"]
    page = client.get(f"/c/{digest}?version=m87").get_data(as_text=True)
    assert 'data-kind="failed-build"' in page and "At Skia m87 (87.9) the fiddle failed" in page
    assert "has no attribute &#39;SamplingOptions&#39;" in page
    assert f'<option value="{M87}" selected>' in page
    shown = client.get(f"/c/{digest}?version=m144").get_data(as_text=True)
    assert f'src="/ai/{M144}/{digest}_raster.png"' in shown
    listing = client.get(f"/c/{digest}").get_data(as_text=True)
    assert listing.count('class="build" data-runid=') == 3
    assert f'data-runid="{M87}" data-status="failed"' in listing
    assert f'href="/ai/{M138}/{digest}.pdf"' in listing
    builds = {b["runid"]: b for b in client.get(f"/e/{digest}").json["builds"]}
    assert builds[M87]["status"] == "failed" and SAMPLING_ERROR in builds[M87]["error"]
    assert builds[M144]["status"] == "outputs" and builds[M144]["head"]
    fragment = client.get(f"/e/{digest}/results?version=87.9").get_data(as_text=True)
    assert "At Skia m87 (87.9) the fiddle failed" in fragment


def test_a_build_a_fiddle_has_not_run_at_says_so(client: Any) -> None:
    digest = run(client, RECTS).json["fiddleHash"]
    page = client.get(f"/c/{digest}?version=m87").get_data(as_text=True)
    assert "This fiddle has not run at Skia m87 (87.9) yet." in page
    bad = client.get(f"/c/{digest}?version=m99")
    assert bad.status_code == 400
    assert f"Skia version m99 is not available; the versions here are {LISTING}." in bad.get_data(
        as_text=True
    )


def changed_pixels(page: str) -> int:
    found = re.search(r'data-changed="(\d+)" data-total="(\d+)"', page)
    assert found, "no count of changed pixels on the page"
    return int(found.group(1))


def test_the_compare_view_counts_what_changed_between_m87_and_m144(client: Any, app: Flask) -> None:
    digest = run(client, STAR, versions=["m87", "HEAD"]).json["fiddleHash"]
    page = client.get(f"/c/{digest}?compare=m87,m144").get_data(as_text=True)
    assert changed_pixels(page) == 1915
    assert "<strong>1,915</strong> of 65,536 pixels changed (2.92%)." in page
    diff_url = f"/ai/{M87}/{digest}/diff/{M144}.png"
    assert f'src="{diff_url}"' in page
    image = client.get(diff_url)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert png_size(image.data) == (256, 256)
    assert image.headers["Cache-Control"] == IMMUTABLE  # two runs that nothing can withdraw
    # Stored once per pair, under the older run, with its count: either order finds it.
    stored = services(app).blobs.read(layout.diff(digest, M144, M87))
    assert stored.metadata == {"changed": "1915", "total": "65536"}
    reversed_page = client.get(f"/c/{digest}?compare={M144}&compare={M87}").get_data(as_text=True)
    assert changed_pixels(reversed_page) == 1915
    assert services(app).blobs.read(layout.diff(digest, M87, M144)).generation == stored.generation
    assert client.get(f"/ai/{M144}/{digest}/diff/{M87}.png").status_code == 404


def test_the_difference_of_runs_of_a_source_image_is_kept_by_no_shared_cache(app: Flask) -> None:
    """It goes with the image, as the runs' own outputs do (functions/routes/media.py)."""
    client = app.test_client()
    services(app).accounts.create_user("uploader", "uploader-password")
    source = upload(client, bearer(app, "uploader"), png_bytes()).json["id"]
    digest = run(client, USES_IMAGE, options={"source": source}, versions=["m87", "HEAD"])
    page = client.get(f"/c/{digest.json['fiddleHash']}?compare=m87,m144").get_data(as_text=True)
    diff_url = f"/ai/{M87}/{digest.json['fiddleHash']}/diff/{M144}.png"
    assert f'src="{diff_url}"' in page
    image = client.get(diff_url)
    assert image.status_code == 200 and image.headers["Cache-Control"] == WITHDRAWABLE


def test_the_compare_view_of_identical_rendering_counts_zero(client: Any) -> None:
    digest = run(client, RECTS, versions="all").json["fiddleHash"]
    page = client.get(f"/c/{digest}?compare=m87,m144").get_data(as_text=True)
    assert changed_pixels(page) == 0 and "(0%)" in page


def test_the_compare_view_shows_a_failed_builds_error_instead(client: Any) -> None:
    digest = run(client, SAMPLING, versions="all").json["fiddleHash"]
    page = client.get(f"/c/{digest}?compare=m87,m144").get_data(as_text=True)
    assert "At m87 (87.9) the fiddle failed, so it has no image to compare." in page
    assert "has no attribute &#39;SamplingOptions&#39;" in page and "data-changed" not in page


@pytest.mark.parametrize(
    "query, why",
    [
        ("compare=m87", "The compare names two builds, as compare=&lt;runid&gt;,&lt;runid&gt;"),
        ("compare=m87,m138,m144", "The compare names two builds"),
        ("compare=m87,87.9", "Pick two different builds to compare."),
        ("compare=m87,m99", "Skia version m99 is not available"),
    ],
)
def test_a_bad_compare_is_a_400(client: Any, query: str, why: str) -> None:
    digest = run(client, RECTS).json["fiddleHash"]
    answer = client.get(f"/c/{digest}?{query}")
    assert answer.status_code == 400 and why in answer.get_data(as_text=True)


# --------------------------------------------------------------------------------------------
# Runners with different builds


def test_runs_go_to_a_runner_that_has_the_build(default_builds: Path, tmp_path: Path) -> None:
    """One runner with m87 and m138, another with m138 and m144 (a build rolling out): the
    service has all three, HEAD is the newest of them, and each run goes where its build is."""
    old = BuildsDir(copy_builds(default_builds, tmp_path / "old"))
    old.listed([M87, M138])
    new = BuildsDir(copy_builds(default_builds, tmp_path / "new"))
    new.listed([M138, M144])
    with (
        runner_process(hosts=1, builds_dir=old.root) as old_url,
        runner_process(hosts=1, builds_dir=new.root) as new_url,
    ):
        client = make_app((old_url, new_url), tmp_path / "data").test_client()
        assert [b["runid"] for b in client.get("/_/builds").json["builds"]] == [M144, M138, M87]
        for version, runid in (("m87", M87), ("HEAD", M144), ("m87", M87), ("m144", M144)):
            code = f"{RECTS}\n# {time.monotonic()}\n"
            answer = run(client, code, version=version)
            assert answer.status_code == 200 and answer.json["runid"] == runid, answer.json


def test_a_build_that_left_its_runner_is_a_400_after_one_more_look(app: Flask, client: Any) -> None:
    """The functions' copy of the runner's builds is out of date: the runner answers 404, the
    functions read its builds again, and the version is now one nobody has."""
    runner = services(app).runner
    url = runner.urls[0]  # type: ignore[attr-defined]
    info = runner.describe()
    gone = BuildInfo("2030-01-01T00:00:00Z-200.0", "200.0", "2030-01-01T00:00:00Z")
    stale = dataclasses.replace(info, builds=(gone, *info.builds))
    runner._infos[url] = (time.monotonic(), stale)  # type: ignore[attr-defined]
    assert runner.builds()[0].runid == gone.runid
    answer = run(client, RECTS, version="200.0")
    assert answer.status_code == 400
    assert answer.json["error"] == (
        f"Skia version {gone.runid} is not available; the versions here are {LISTING}."
    )
