"""What an operator sees when the service cannot work as started: one sentence that says what to
do, never a traceback (issue 20, item 6). Each case is made real where it can be: a virtualenv
without the runner extra, a site without its bundles, functions-framework without runners, the
runner's own start-up output."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from fiddle_protocol.options import FiddleOptions
from functions.app import ROOT, create_app
from functions.config import Settings
from functions.devserver import free_port
from functions.hashing import fiddle_hash
from functions.services import services
from runner_vm.policy import load_policy
from tests.conftest import runner_process
from tests.test_infra import _deploy_module

RUNNER_EXTRA = ("skia", "pyseccomp", "numpy")  # what the runner extra installs, by file name
INSTALL_HINT = "pip install 'fiddle-service[runner]'"


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# --- fiddle serve and fiddle runner without the runner extra ------------------------------------


@pytest.fixture(scope="module")
def without_runner_extra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding every package of this one except those of the runner extra: the
    project installed with `pip install fiddle-service` alone. Returns its python."""
    root = tmp_path_factory.mktemp("no-runner-extra")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    shared = root / "packages"
    shared.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(RUNNER_EXTRA) or entry.suffix == ".pth":
            continue
        (shared / entry.name).symlink_to(entry)
    site_packages = next((root / "venv" / "lib").glob("python3*/site-packages"))
    (site_packages / "packages.pth").write_text(f"{shared}\n")
    python = root / "venv" / "bin" / "python"
    probe = subprocess.run([python, "-c", "import skia"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'skia'" in probe.stderr
    return python


def fiddle(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `fiddle` command run by python, with no runners configured."""
    env = without("FIDDLE_RUNNERS", PYTHONPATH=str(ROOT))
    command = [str(python), "-m", "functions.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_serve_without_the_runner_extra_says_what_to_install(
    without_runner_extra: Path, tmp_path: Path
) -> None:
    done = fiddle(without_runner_extra, "serve", "--port", str(free_port()),
                  "--data-dir", str(tmp_path))  # fmt: skip
    assert done.returncode != 0
    sentence = one_sentence(done.stderr)
    assert sentence.startswith("fiddle serve: running fiddles here needs the runner extra")
    assert "skia-python" in sentence and INSTALL_HINT in sentence and "FIDDLE_RUNNERS" in sentence


def test_runner_without_the_runner_extra_says_what_to_install(without_runner_extra: Path) -> None:
    done = fiddle(without_runner_extra, "runner", "--port", str(free_port()))
    assert done.returncode != 0
    sentence = one_sentence(done.stderr)
    assert sentence.startswith("fiddle runner:") and INSTALL_HINT in sentence


def test_serve_without_the_extra_works_with_runners_elsewhere(
    without_runner_extra: Path, tmp_path: Path
) -> None:
    """The functions themselves need no Skia: with FIDDLE_RUNNERS they serve (here, with no
    runner answering, /healthz says so and pages still render)."""
    port = free_port()
    command = [str(without_runner_extra), "-m", "functions.cli", "serve", "--port", str(port),
               "--data-dir", str(tmp_path), "--no-examples"]  # fmt: skip
    env = without(PYTHONPATH=str(ROOT), FIDDLE_RUNNERS="http://127.0.0.1:9")
    url = f"http://127.0.0.1:{port}"
    with serving_pages(command, url, env):
        assert requests.get(f"{url}/", timeout=10).status_code == 200
        health = requests.get(f"{url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "degraded"


def serving_pages(command: list[str], url: str, env: dict[str, str]) -> object:
    """A server whose /healthz cannot be ok: started and waited for by its front page."""
    import contextlib
    import signal
    import time

    @contextlib.contextmanager
    def started():  # type: ignore[no-untyped-def]
        process = subprocess.Popen(command, env=env, start_new_session=True,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(300):
                with contextlib.suppress(requests.RequestException):
                    requests.get(f"{url}/", timeout=1)
                    break
                assert process.poll() is None, "fiddle serve exited"
                time.sleep(0.1)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    return started()


# --- a site without its bundles -----------------------------------------------------------------


@pytest.fixture
def site_without_bundles(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "site", site, ignore=shutil.ignore_patterns("dist", "src"))
    return site


def stored_fiddle(app: object) -> str:
    code = "def draw(canvas):\n    canvas.clear(skia.ColorRED)\n"
    digest = fiddle_hash(code, FiddleOptions())
    services(app).fiddles.save_code(digest, code, FiddleOptions())  # type: ignore[arg-type]
    return digest


def test_missing_bundles_are_reported_once_at_start_and_on_the_pages(
    site_without_bundles: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=data_dir, runners=("http://127.0.0.1:9",))
    with caplog.at_level(logging.WARNING, logger="functions.bundles"):
        app = create_app(settings, site=site_without_bundles)
    lines = [r.getMessage() for r in caplog.records if r.name == "functions.bundles"]
    assert len(lines) == 1 and "dist/editor.js" in lines[0] and "scripts/setup" in lines[0]
    client, digest = app.test_client(), stored_fiddle(app)
    for path in ("/", f"/c/{digest}"):
        page = client.get(path).data.decode()
        assert 'id="bundle-missing"' in page and "site/dist/editor.js" in page, path
    embed = client.get(f"/iframe/{digest}?code=1").data.decode()
    assert 'id="bundle-missing"' in embed and "site/dist/embed.js" in embed
    assert 'id="bundle-missing"' not in client.get(f"/iframe/{digest}").data.decode()


def test_built_bundles_are_not_reported(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    for bundle in ("editor.js", "embed.js"):
        if not (ROOT / "site" / "dist" / bundle).is_file():
            pytest.skip("the bundles are not built here (scripts/setup builds them)")
    settings = Settings(data_dir=data_dir, runners=("http://127.0.0.1:9",))
    with caplog.at_level(logging.WARNING, logger="functions.bundles"):
        app = create_app(settings)
    assert not [r for r in caplog.records if r.name == "functions.bundles"]
    client, digest = app.test_client(), stored_fiddle(app)
    for path in ("/", f"/c/{digest}", f"/iframe/{digest}?code=1"):
        assert 'id="bundle-missing"' not in client.get(path).data.decode(), path


# --- functions-framework without runners --------------------------------------------------------


def functions_framework(
    source: Path, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "functions_framework", "--source", str(source),
               "--target", "run", "--host", "127.0.0.1", "--port", str(free_port())]  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def without(*names: str, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


def test_a_functions_target_without_runners_stops_at_start(tmp_path: Path) -> None:
    pytest.importorskip("functions_framework")
    env = without("FIDDLE_RUNNERS", FIDDLE_DATA_DIR=str(tmp_path))
    done = functions_framework(Path("functions/main.py"), ROOT, env)
    assert done.returncode != 0
    sentence = one_sentence(done.stderr)
    assert sentence.startswith("fiddle functions: FIDDLE_RUNNERS is not set")


def test_a_malformed_setting_stops_the_functions_at_start(tmp_path: Path) -> None:
    pytest.importorskip("functions_framework")
    env = without(FIDDLE_RUNNERS="http://127.0.0.1:9", FIDDLE_PUBLIC_URL="ftp://nowhere",
                  FIDDLE_DATA_DIR=str(tmp_path))  # fmt: skip
    done = functions_framework(Path("functions/main.py"), ROOT, env)
    assert done.returncode != 0
    assert one_sentence(done.stderr).startswith("fiddle functions: FIDDLE_PUBLIC_URL")


def test_the_deployed_source_without_runners_stops_at_start(tmp_path: Path) -> None:
    """The zip scripts/deploy uploads (its root main.py re-exports functions/main.py)."""
    pytest.importorskip("functions_framework")
    archive, _ = _deploy_module().functions_zip()
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        zipped.extractall(tmp_path / "source")
    env = without("FIDDLE_RUNNERS", FIDDLE_DATA_DIR=str(tmp_path / "data"), PYTHONPATH="")
    done = functions_framework(Path("main.py"), tmp_path / "source", env)
    assert done.returncode != 0
    assert one_sentence(done.stderr).startswith("fiddle functions: FIDDLE_RUNNERS is not set")


# --- the runner's start -------------------------------------------------------------------------

TEXT = """def draw(canvas):
    canvas.drawString("Fontconfig", 10, 40, skia.Font(None, 24), skia.Paint(Color=skia.ColorBLACK))
"""


@pytest.mark.parametrize("sandbox", ["nspawn", "namespaces", "runsc"])
def test_the_runner_starts_without_fontconfig_warnings_and_draws_text(
    sandbox: str, tmp_path: Path
) -> None:
    """The cause: skia-python's fontconfig 2.13.1 parses Debian's newer templates in
    /usr/share/fontconfig/conf.avail; every sandbox hides that directory (the policy's
    `hidden`), whose files none of them loads."""
    from runner_vm.sandbox.base import SandboxUnavailable
    from runner_vm.service.runner import BACKENDS
    from tests.test_run_api import pixels

    try:
        BACKENDS[sandbox](load_policy(), tmp_path / "probe").check()
    except SandboxUnavailable as why:
        pytest.skip(f"{sandbox} is not available here: {why}")
    log = tmp_path / "runner.log"
    with log.open("wb") as stderr, runner_process(sandbox, 1, stderr=stderr.fileno()) as url:
        from fiddle_protocol.messages import RunRequest
        from functions.runner_client import HttpRunnerClient

        result = HttpRunnerClient((url,)).run(RunRequest("fonts", TEXT, FiddleOptions()))
    output = log.read_text()
    assert "runner:" in output  # the log was captured
    assert "Fontconfig" not in output, output
    assert result.succeeded, result.runtime_error
    rgba = pixels(result.outputs["cpu.png"])
    assert any(rgba[i] < 128 for i in range(0, len(rgba), 4)), "no text was drawn"
