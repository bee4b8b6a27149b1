"""What the tests do as clients of the service, in the fast layer (tests/fast/) and beside the real
runner alike: bearer tokens, sign-in with its CSRF token, uploads, and images to upload."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import skia
from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from functions.routes.pages import DEFAULT_CODE
from functions.services import services

# The program a new fiddle starts with (and the README's first example): a red line.
EXAMPLE = DEFAULT_CODE

# The default Skia builds (scripts/setup installs them) by runid: m87, m138 and HEAD, m144.
M87, M138, M144 = (
    "2025-06-08T01:46:56Z-87.9",
    "2025-06-09T14:00:32Z-138.0",
    "2026-10-20T09:47:00Z-144.1",
)
# Anti-aliased stroke edges changed between m87 and m144: 1915 pixels of this star (measured).
STAR = """import math

def draw(canvas):
    path = skia.Path()
    for i in range(5):
        a = -math.pi / 2 + i * 4 * math.pi / 5
        x, y = 128 + 100 * math.cos(a), 128 + 100 * math.sin(a)
        (path.moveTo if i == 0 else path.lineTo)(x, y)
    path.close()
    canvas.drawPath(path, skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=3))
"""
# An API m87 does not have (SamplingOptions came in m88): an error there, a red square at m144.
SAMPLING = """def draw(canvas):
    surface = skia.Surface(8, 8)
    surface.getCanvas().clear(skia.ColorRED)
    image = surface.makeImageSnapshot()
    sampling = skia.SamplingOptions(skia.FilterMode.kLinear)
    canvas.drawImageRect(image, skia.Rect(0, 0, 256, 256), sampling)
"""


def numbered(code: str) -> str:
    """The program with a `{i}` to format, so that each copy is a fiddle of its own."""
    return code.replace("def draw(canvas):", "def draw(canvas):  # {i}", 1)


# Skia Fiddle's known C++ program (a red line), whose hashes Skia documents and tests: 9 lines, no
# trailing newline.
SKIA_RED_LINE = """void draw(SkCanvas* canvas) {
    SkPaint p;
    p.setColor(SK_ColorRED);
    p.setAntiAlias(true);
    p.setStyle(SkPaint::kStroke_Style);
    p.setStrokeWidth(10);

    canvas->drawLine(20, 20, 100, 100, p);
}"""
# Generous limits: tests send many requests from one address, some all at once.
GENEROUS = {"run": "10000/minute", "upload": "10000/minute", "name": "10000/minute"}
USES_IMAGE = (
    "def draw(canvas):\n"
    "    canvas.drawImage(image, 0, 0)\n"
    "    print(image.width(), source.height())\n"
)


def bearer(app: Flask, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services(app).accounts.create_token(name)}"}


def purged(app: Flask, answer: Any, timeout: float = 60.0) -> dict[str, Any]:
    """The purge-source job a source deletion answered with (202), done by this app's worker
    (which no test app runs by itself): the job as GET /_/jobs/<id> would answer it, ended."""
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.json["job"]["id"]
    assert answer.headers["Location"] == f"/_/jobs/{job_id}"
    built, deadline = services(app), time.monotonic() + timeout
    while not (job := built.jobs.get(job_id)).final:
        assert time.monotonic() < deadline, f"job {job_id} did not end in {timeout} s"
        if not built.worker.run_once():
            time.sleep(0.05)  # held by another worker: wait for it
    return job.to_json()


def png_bytes(width: int = 40, height: int = 30, kind: Any = skia.kPNG) -> bytes:
    surface = skia.Surface(width, height)
    surface.getCanvas().clear(skia.ColorMAGENTA)
    return bytes(surface.makeImageSnapshot().encodeToData(kind, 90))


def upload(client: Any, headers: dict[str, str], data: bytes, filename: str = "a.png") -> Any:
    return client.post(
        "/_/upload",
        data={"upload": (BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def csrf_of(client: Any) -> str:
    page = client.get("/signin").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


def sign_in(client: Any, name: str, password: str) -> Any:
    return client.post(
        "/signin", data={"name": name, "password": password, "csrf_token": csrf_of(client)}
    )


def pixels(png: bytes) -> bytes:
    """The RGBA pixels of an encoded image."""
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
    assert image is not None, "not a decodable PNG"
    info = skia.ImageInfo.Make(
        image.width(), image.height(), skia.kRGBA_8888_ColorType, skia.kUnpremul_AlphaType
    )
    buffer = bytearray(info.computeMinByteSize())
    assert image.readPixels(info, buffer, info.minRowBytes())
    return bytes(buffer)


def render_directly(code: str, width: int, height: int) -> bytes:
    """The raster output of code rendered here by the runner's renderer, with no service around."""
    from runner_vm.drawing import render

    namespace: dict[str, Any] = {"skia": skia}
    exec(compile(code, "direct.py", "exec"), namespace)
    return render.raster_png(namespace["draw"], width, height, srgb=False, f16=False)


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """A WSGI app on a loopback port of its own, in a thread, served by waitress as `fiddle serve`
    serves the functions; yields its URL and stops it after."""
    # The loop's timeout is how long stopping it may wait: 1 s by default, 0.05 here.
    server = create_server(app, host="127.0.0.1", port=0, threads=8, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        # Every socket of the server, its clients' kept-alive connections too (they would keep
        # the loop running), closed by the loop's own thread between two polls.
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(10)
