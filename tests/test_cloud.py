"""The service on its Google Cloud backends, against real servers: fake-gcs-server for Cloud
Storage and the official Firestore emulator; and the Cloud Functions targets under
functions-framework."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.devserver import free_port, serve_command, serving
from tests.firestore_emulator import FirestoreEmulator, firestore_emulator  # noqa: F401
from tests.gcs_server import fake_gcs_server  # noqa: F401
from tests.helpers import EXAMPLE

FIDDLE = [sys.executable, "-m", "functions.cli"]


@pytest.fixture
def cloud_env(
    fake_gcs_server: str,  # noqa: F811
    firestore_emulator: FirestoreEmulator,  # noqa: F811
) -> dict[str, str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = fake_gcs_server
    bucket = f"fiddle-{uuid.uuid4().hex[:12]}"
    storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(bucket)
    firestore_emulator.reset()
    return {
        **os.environ,
        "FIDDLE_BLOB_STORE": "gcs", "FIDDLE_BUCKET": bucket,
        "STORAGE_EMULATOR_HOST": fake_gcs_server,
        "FIDDLE_DOC_STORE": "firestore", "GOOGLE_CLOUD_PROJECT": firestore_emulator.project,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "FIDDLE_SECRET_KEY": "test-secret-key",
    }  # fmt: skip


def bucket_objects(env: dict[str, str]) -> set[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    return {blob.name for blob in client.list_blobs(env["FIDDLE_BUCKET"])}


def firestore_ids(env: dict[str, str], collection: str) -> set[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    client = firestore.Client(
        project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    return {doc.id for doc in client.collection(collection).stream()}


def test_fiddle_serve_on_gcs_and_firestore(cloud_env: dict[str, str], tmp_path: Path) -> None:
    create = subprocess.run([*FIDDLE, "admin", "create-user", "carol"], input="carol-password\n",
                            env=cloud_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert create.returncode == 0, create.stderr
    token = subprocess.run([*FIDDLE, "admin", "create-token", "carol"], env=cloud_env,
                           capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    port = free_port()
    with serving(serve_command(port, tmp_path), f"http://127.0.0.1:{port}", cloud_env) as url:
        answer = requests.post(f"{url}/_/run", json={"code": EXAMPLE}, timeout=60).json()
        digest, runid = answer["fiddleHash"], answer["runid"]
        named = requests.post(f"{url}/_/name", json={"name": "cloudy", "hash": digest},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
        assert named.status_code == 200, named.text
        assert requests.get(f"{url}/i/@cloudy_raster.png", timeout=30).status_code == 200
    objects = bucket_objects(cloud_env)
    assert {f"fiddle/{digest}/draw.py", f"fiddle/{digest}/{runid}/cpu.png",
            f"fiddle/{digest}/{runid}/pdf.pdf", f"fiddle/{digest}/{runid}/skp.skp",
            "named/cloudy"} <= objects  # fmt: skip
    assert not any(name.startswith(("blobs/", "objects/")) for name in objects)
    assert firestore_ids(cloud_env, "users") == {"carol"}
    assert "cloudy" in firestore_ids(cloud_env, "named")
    assert not list(tmp_path.glob("**/objects/fiddle"))


@pytest.fixture(scope="module")
def runner(request: Any) -> Iterator[str]:
    from tests.conftest import runner_process

    with runner_process(hosts=1, max_waiting=8) as url:
        yield url


@pytest.mark.parametrize("target", ["run", "pages"])
def test_cloud_functions_targets(target: str, runner: str, tmp_path: Path) -> None:
    env = {**os.environ, "FIDDLE_DATA_DIR": str(tmp_path), "FIDDLE_RUNNERS": runner}
    port = free_port()
    command = [sys.executable, "-m", "functions_framework", "--source", "functions/main.py",
               "--target", target, "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        command, env=env, start_new_session=True, cwd=Path(__file__).parent.parent
    )
    try:
        wait_for_port(url, process)
        check_target(target, url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_for_port(url: str, process: subprocess.Popen[bytes]) -> None:
    import time

    for _ in range(300):
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/nothing", timeout=1)
            return
        assert process.poll() is None, "functions-framework exited"
        time.sleep(0.1)
    raise AssertionError("functions-framework did not start")


def check_target(target: str, url: str) -> None:
    run = requests.post(f"{url}/_/run", json={"code": EXAMPLE}, timeout=60)
    page = requests.get(f"{url}/c/{'0' * 32}", timeout=30)
    if target == "run":
        assert run.status_code == 200 and run.json()["fiddleHash"]
        assert page.status_code == 404 and page.json() == {
            "error": "There is nothing at this address.",
            "fields": {},
        }
    else:
        assert run.status_code == 404
        assert page.status_code == 404 and "text/html" in page.headers["Content-Type"]
        assert requests.get(f"{url}/healthz", timeout=30).json()["status"] == "ok"
