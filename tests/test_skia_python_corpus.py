"""Real skia-python code runs in a fiddle exactly as on a desktop (issue 21, item 4).

Every snippet of tests/skia_python_corpus.py (drawing code from skia-python's documentation,
notebooks and tests, each noted with its source) runs through the service (POST /_/run, a real
runner in its real sandbox, the outputs read back from /i/) and directly with skia-python in this
process (tests/corpus_direct.py), and the two must agree exactly: the raster's pixels (both PNGs
decoded), the printed text, the PDF's bytes, the SKP played back pixel for pixel, and which
passes failed, with the same traceback. Any difference fails the suite.

Each snippet runs on every Skia build the service offers whose milestone has its API
(`Snippet.since`): the builds the runner lists, or its one build. The direct side uses the
skia-python of this process; a build of another version is rendered by tests/corpus_direct.py
run as a module with that build's directory first on PYTHONPATH (`build_dirs`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import skia
from flask import Flask

from fiddle_protocol.messages import RunnerInfo
from functions.app import create_app
from functions.config import Settings
from functions.services import services
from tests.corpus_direct import Direct, run_directly
from tests.skia_python_corpus import SNIPPETS, Snippet
from tests.test_run_api import pixels

ROOT = Path(__file__).resolve().parents[1]
PASSES = ("pdf", "skp")  # the outputs after the raster, each of which may fail alone
SUFFIXES = {"pdf": ".pdf", "skp": ".skp"}


@pytest.fixture(scope="module")
def corpus_app(runner_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The real app on the session's runner, with room for every snippet on every build."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("corpus"),
        runners=(runner_url,),
        rate_limits={"run": "100000/minute"},
        runs_in_flight_per_client=0,
        quota_bytes_per_hour=0,
    )
    application = create_app(settings)
    application.testing = True
    with application.app_context():
        yield application


def milestone(skia_python: str) -> int:
    """skia-python's major version is the Skia milestone it wraps (144.1: m144)."""
    return int(skia_python.split(".", 1)[0])


def service_builds(app: Flask) -> list[str]:
    """The skia-python versions the service renders with: each build its runner lists, or the
    one it has."""
    with app.app_context():
        info: RunnerInfo = services().runner.describe()
    listed = getattr(info, "builds", None) or ()
    versions = [getattr(build, "skia_python", build) for build in listed]
    return [str(version) for version in versions] or [info.skia_python]


def build_dirs() -> dict[str, Path]:
    """skia-python version -> a directory holding that build's packages, for the builds that
    are not this process's own (none until the runner has several builds)."""
    return {}


def direct(snippet: Snippet, version: str, source_png: bytes | None) -> Direct:
    if version == skia.__version__:
        return run_directly(snippet.program, snippet.width, snippet.height, source_png)
    if version not in build_dirs():
        pytest.fail(f"skia-python {version} has no directory to render it directly from")
    return direct_in(build_dirs()[version], snippet, source_png)


def direct_in(build_dir: Path, snippet: Snippet, source_png: bytes | None) -> Direct:
    """The snippet rendered directly by the skia-python in `build_dir`, in a process of its own."""
    request = {
        "code": snippet.program,
        "width": snippet.width,
        "height": snippet.height,
        "source": base64.b64encode(source_png).decode() if source_png else "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.corpus_direct"],
        input=json.dumps(request),
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(build_dir), str(ROOT)))},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return Direct.from_json(json.loads(done.stdout))


def through_the_service(client: Any, snippet: Snippet, version: str) -> dict[str, Any]:
    body = {"code": snippet.program, "options": snippet.options, "version": version}
    answer = client.post("/_/run", json=body)
    assert answer.status_code == 200, answer.json
    return dict(answer.json)


def source_image(client: Any, snippet: Snippet) -> bytes | None:
    if not snippet.image:
        return None
    served = client.get(f"/s/{snippet.image}")
    assert served.status_code == 200
    return bytes(served.data)


def played_back(skp: bytes, width: int, height: int) -> bytes:
    picture = skia.Picture.MakeFromData(skia.Data.MakeWithCopy(skp))
    assert picture is not None, "not an SKP"
    surface = skia.Surface(width, height)
    with surface as canvas:
        canvas.drawPicture(picture)
    return pixels(bytes(surface.makeImageSnapshot().encodeToData(skia.kPNG, 100)))


def test_the_corpus_is_large_and_covers_the_issue() -> None:
    assert len(SNIPPETS) >= 40
    assert len({snippet.name for snippet in SNIPPETS}) == len(SNIPPETS)
    assert sum(snippet.pillow for snippet in SNIPPETS) >= 4
    assert sum(snippet.reads_back for snippet in SNIPPETS) >= 4
    for snippet in SNIPPETS:
        assert snippet.source.startswith(("docs/", "notebooks/", "tests/")), snippet.name


def test_the_direct_side_runs_in_a_process_of_its_own() -> None:
    """What another build's directory would be rendered by, tried on this process's own build."""
    snippet = next(s for s in SNIPPETS if s.reads_back)
    here = run_directly(snippet.program, snippet.width, snippet.height, None)
    apart = direct_in(Path(skia.__file__).parent, snippet, None)
    assert (apart.text, apart.errors, apart.outputs) == (here.text, here.errors, here.outputs)
    assert pixels(apart.raster) == pixels(here.raster)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda snippet: snippet.name)
def test_a_snippet_runs_in_a_fiddle_as_it_does_directly(
    corpus_app: Flask, snippet: Snippet
) -> None:
    client = corpus_app.test_client()
    source_png = source_image(client, snippet)
    builds = [v for v in service_builds(corpus_app) if milestone(v) >= (snippet.since or 0)]
    if not builds:
        pytest.skip(f"no build of the service has m{snippet.since} or later")
    for version in builds:
        compare(client, snippet, version, direct(snippet, version, source_png))


def compare(client: Any, snippet: Snippet, version: str, expected: Direct) -> None:
    where = f"{snippet.name} ({snippet.source}) on skia-python {version}"
    answer = through_the_service(client, snippet, version)
    assert (answer["compile_errors"], answer["runtime_error"]) == ([], ""), where
    assert answer["text"] == expected.text, where
    assert answer["output_errors"] == expected.errors, where
    # The corpus says which snippets read pixels back: those, and only those, lose two passes.
    assert bool(expected.errors) == snippet.reads_back, where
    if snippet.reads_back:
        assert set(expected.errors) == set(PASSES), where
    digest, runid = answer["fiddleHash"], answer["runid"]
    served = client.get(f"/ai/{runid}/{digest}_raster.png")
    assert served.status_code == 200, where
    assert pixels(served.data) == pixels(expected.raster), where
    for name in PASSES:
        output = client.get(f"/ai/{runid}/{digest}{SUFFIXES[name]}")
        if name in expected.errors:
            assert output.status_code == 404, where
        elif name == "pdf":
            assert output.data == expected.outputs[name], where
        else:
            wanted = played_back(expected.outputs[name], snippet.width, snippet.height)
            assert played_back(output.data, snippet.width, snippet.height) == wanted, where
