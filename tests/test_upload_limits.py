"""The largest image the upload limits promise (10 MiB, 4096x4096) is accepted (issue 19).

A noisy 4096x4096 JPEG fits in 10 MiB, yet its normalised PNG does not compress: it is some 54 MiB,
72 MiB as base64, more than the 32 MiB a drawing may send back. The decode has its own cap
(`decode_output_mib`), and the frames between runner and host carry it; here it goes the whole
way: upload through the functions, decode in the sandbox, store, serve, and draw with it.
"""

from __future__ import annotations

import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fiddle_protocol.checks import png_size
from fiddle_protocol.messages import RunRequest
from functions.app import create_app
from functions.config import Settings
from functions.services import services
from runner_vm.policy import load_policy
from tests.conftest import started_runner

skia = pytest.importorskip("skia")
numpy = pytest.importorskip("numpy")

SIDE = 4096
MAX_UPLOAD = 10 << 20
GENEROUS = {"run": "10000/minute", "upload": "10000/minute", "name": "10000/minute"}
# Text only: a drawing of the whole image would embed it in its PDF and SKP, past the 32 MiB a
# drawing may send back (which it then says).
USES_IMAGE = "def draw(canvas):\n    print(image.width(), source.height())\n"


@pytest.fixture(scope="module")
def noisy_jpeg() -> bytes:
    """4096x4096 pixels of noise as a JPEG just within the upload limit."""
    noise = numpy.random.default_rng(19).integers(0, 256, (SIDE, SIDE, 4), dtype=numpy.uint8)
    noise[..., 3] = 255
    data = bytes(skia.Image.fromarray(noise).encodeToData(skia.kJPEG, 75))
    assert 8 << 20 < len(data) <= MAX_UPLOAD, len(data)
    return data


def test_the_sandbox_decodes_the_largest_upload(noisy_jpeg: bytes, tmp_path: Path) -> None:
    request = RunRequest(uuid.uuid4().hex, "", source_png=noisy_jpeg, task="decode_image")
    with started_runner("auto", load_policy(), tmp_path, pool_size=1) as runner:
        result = runner.run(request)
    assert result.runtime_error == ""
    assert len(result.outputs["source.png"]) > load_policy().limits.output_mib << 20
    assert png_size(result.outputs["source.png"]) == (SIDE, SIDE)
    for size in (64, 128, 256):
        assert png_size(result.outputs[f"thumb{size}.png"]) == (size, size)


@pytest.fixture
def app(runner_url: str, data_dir: Path) -> Flask:
    settings = Settings(data_dir=data_dir, runners=(runner_url,), rate_limits=GENEROUS)
    application = create_app(settings)
    application.testing = True
    services(application).accounts.create_user("alice", "alice-password")
    return application


def upload(client: Any, token: str, data: bytes) -> Any:
    return client.post(
        "/_/upload",
        data={"upload": (BytesIO(data), "noise.jpg")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


@pytest.mark.slow
def test_the_largest_upload_is_stored_served_and_drawn_with(app: Flask, noisy_jpeg: bytes) -> None:
    client = app.test_client()
    answer = upload(client, services(app).accounts.create_token("alice"), noisy_jpeg)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    source = answer.json["id"]
    assert png_size(client.get(f"/s/{source}").data) == (SIDE, SIDE)
    assert png_size(client.get(f"/s/{source}?size=256").data) == (256, 256)
    # A run with this source sends the whole normalised PNG to the sandbox.
    options = {"source": source, "textOnly": True}
    run = client.post("/_/run", json={"code": USES_IMAGE, "options": options})
    assert run.status_code == 200, run.get_data(as_text=True)
    assert run.json["runtime_error"] == "" and run.json["text"] == f"{SIDE} {SIDE}\n", run.json
