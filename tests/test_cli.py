"""The `fiddle` command end to end: `fiddle serve` on a port, `fiddle run` against it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions.devserver import free_port, serve_command, serving
from functions.examples import load_examples
from tests.helpers import EXAMPLE, pixels, render_directly

FIDDLE = [sys.executable, "-m", "functions.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("serve-data")
    port = free_port()
    with serving(serve_command(port, data_dir), f"http://127.0.0.1:{port}") as url:
        yield url


def fiddle_run(server: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [*FIDDLE, "run", str(path), "--server", server, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_serve_runs_the_spec_example_with_the_same_pixels(server: str, tmp_path: Path) -> None:
    source = tmp_path / "draw.py"
    source.write_text(EXAMPLE)
    result = fiddle_run(server, source)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    digest = lines["hash"].strip()
    assert lines["raster"].strip() == f"{server}/i/{digest}_raster.png"
    png = requests.get(f"{server}/i/{digest}_raster.png", timeout=10).content
    assert pixels(png) == pixels(render_directly(EXAMPLE, 256, 256))
    health = requests.get(f"{server}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["sandbox"] in ("nspawn", "namespaces", "runsc")


def test_run_prints_errors_and_fails(server: str, tmp_path: Path) -> None:
    source = tmp_path / "broken.py"
    source.write_text("def draw(canvas):\n    canvas.nope()\n")
    result = fiddle_run(server, source)
    assert result.returncode == 1
    assert "AttributeError" in result.stderr and 'File "draw.py", line 2' in result.stderr


def test_run_names_each_output_whose_pass_failed_and_lists_the_others(
    server: str, tmp_path: Path
) -> None:
    source = tmp_path / "reads_back.py"
    source.write_text("def draw(canvas):\n    canvas.toarray()\n")
    result = fiddle_run(server, source)
    assert result.returncode == 0, result.stderr
    names = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    digest = result.stdout.split()[1]
    stored = requests.get(f"{server}/e/{digest}", timeout=10).json()["outputList"]
    # The raster, and the GPU image and its GL info where the runner has a GPU (a GPU canvas has
    # pixels to read back): exactly what the service stored.
    assert names == ["hash", "page", "build", *(output["name"] for output in stored)]
    assert "pdf" not in names and "skp" not in names
    for name in ("pdf", "skp"):
        assert f"{name}: not rendered: the program raised an error in its {name} pass\n" in (
            result.stderr
        )
    assert result.stderr.count("RuntimeError: Unsupported color type") == 2


def test_run_reports_invalid_options(server: str, tmp_path: Path) -> None:
    source = tmp_path / "draw.py"
    source.write_text(EXAMPLE)
    result = fiddle_run(server, source, "--width", "1")
    assert result.returncode == 1
    assert "width" in result.stderr and "Traceback" not in result.stderr


def test_run_of_a_missing_file_or_server_fails_cleanly(tmp_path: Path) -> None:
    missing = fiddle_run("http://127.0.0.1:9", tmp_path / "nope.py")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    source = tmp_path / "draw.py"
    source.write_text(EXAMPLE)
    down = fiddle_run(f"http://127.0.0.1:{free_port()}", source)
    assert down.returncode == 2 and "did not answer" in down.stderr


def test_fiddle_serve_stores_every_example(server: str) -> None:
    """A fresh server has each example at its /c/<hash>: serve stores them when it starts."""
    for example in load_examples():
        for _ in range(120):
            answer = requests.get(f"{server}/e/{example.listed_hash}", timeout=10)
            if answer.status_code == 200 and answer.json()["runid"]:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, example.file
        assert answer.json()["code"] == example.code
        assert answer.json()["runid"], f"{example.file} has no stored run"
