"""What one simulated user of `nox -s load` does (scripts/load.py starts the service and locust).

Each user is a client address of its own (X-Forwarded-For, with the service trusting one proxy)
and a signed-in account (a bearer token from --tokens-file), and mixes: new runs, cached runs
(programs every user runs), image and page GETs of stored fiddles, naming fiddles and uploading
source images. A 429 with Retry-After is the service saying "not now", as it should under load:
it is counted, under its own message, apart from errors (scripts/load.py reads the two apart).

Options of its own (after locust's): --tokens-file, a JSON list of API tokens, one per user;
--soak N: users only make new runs, and the test stops after N of them.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import struct
import uuid
import zlib
from typing import Any

import gevent
import gevent.event
from locust import HttpUser, between, events, task
from locust.exception import StopUser

from fiddle_protocol import outputs

# The raster and the PDF of a still fiddle, as the output registry names them.
STILL_SUFFIXES = [
    output.suffix for output in outputs.DRAW_OUTPUTS if output.name in ("raster", "pdf")
]

RETRY_LATER = "429 with Retry-After"
CACHED_PROGRAMS = [
    f"def draw(canvas):\n    canvas.drawCircle({x}, 64, 40, skia.Paint(Color=skia.ColorBLUE))\n"
    for x in range(40, 200, 20)
]
_addresses = itertools.count(1)
_soak_runs = itertools.count(1)
_quitting = gevent.event.Event()


def _new_program() -> str:
    return (
        "def draw(canvas):\n"
        f"    canvas.drawCircle(64, 64, {random.randint(5, 60)}, skia.Paint(Color=skia.ColorRED))\n"
        f"# {uuid.uuid4().hex}\n"
    )


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small PNG of random pixels: each upload is a new image."""
    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _sentence(response: Any) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return response.text[:200]


class FiddleUser(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.soak = int(getattr(options, "soak", 0))
        tokens = _tokens(getattr(options, "tokens_file", ""))
        number = next(_addresses)
        self.headers = {"X-Forwarded-For": f"10.{number // 250}.{number % 250}.1"}
        if tokens:
            self.headers["Authorization"] = f"Bearer {tokens[number % len(tokens)]}"
        self.signed_in = bool(tokens)
        self.hashes: list[str] = []

    def _checked(self, response: Any, expected: tuple[int, ...] = (200,)) -> bool:
        """Success for the expected statuses; a 429 with Retry-After under its own message."""
        if response.status_code in expected:
            response.success()
            return True
        if response.status_code == 429 and response.headers.get("Retry-After"):
            response.failure(f"{RETRY_LATER}: {_sentence(response)}")
        else:
            response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
        return False

    def _run(self, code: str, name: str) -> None:
        with self.client.post(
            "/_/run", json={"code": code}, headers=self.headers, name=name, catch_response=True
        ) as response:
            if self._checked(response):
                self.hashes.append(response.json()["fiddleHash"])
                del self.hashes[:-20]

    @task(3)
    def new_run(self) -> None:
        if self.soak and next(_soak_runs) > self.soak:
            if not _quitting.is_set():
                _quitting.set()
                # From a greenlet of its own: quitting from inside a user stops that user
                # half-way through stopping the others, and locust never exits.
                gevent.spawn(self.environment.runner.quit)  # type: ignore[union-attr]
            raise StopUser()
        self._run(_new_program(), "run (new)")

    @task(4)
    def cached_run(self) -> None:
        if self.soak:
            return self.new_run()
        self._run(random.choice(CACHED_PROGRAMS), "run (cached)")

    @task(8)
    def image(self) -> None:
        if self.soak:
            return self.new_run()
        if self.hashes:
            digest = random.choice(self.hashes)
            path = f"/i/{digest}{random.choice(STILL_SUFFIXES)}"
            self._get(path, "image")

    @task(3)
    def page(self) -> None:
        if self.soak:
            return self.new_run()
        if self.hashes:
            digest = random.choice(self.hashes)
            path, name = random.choice([(f"/c/{digest}", "page"), (f"/e/{digest}", "page (json)")])
            self._get(path, name)

    @task(1)
    def name(self) -> None:
        if self.soak:
            return self.new_run()
        if self.hashes and self.signed_in:
            body = {"name": f"load_{random.randrange(1000)}", "hash": self.hashes[-1]}
            body["overwrite"] = True  # type: ignore[assignment]
            with self.client.post(
                "/_/name", json=body, headers=self.headers, name="name", catch_response=True
            ) as response:
                # 403: another user holds the name (all users draw from the same names).
                self._checked(response, (200, 403))

    @task(1)
    def upload(self) -> None:
        if self.soak:
            return self.new_run()
        if self.signed_in:
            files = {"upload": ("load.png", _png(), "image/png")}
            with self.client.post(
                "/_/upload", files=files, headers=self.headers, name="upload", catch_response=True
            ) as response:
                self._checked(response)

    def _get(self, path: str, name: str) -> None:
        with self.client.get(
            path, headers=self.headers, name=name, catch_response=True
        ) as response:
            self._checked(response)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--tokens-file", default="", help="a JSON list of API tokens")
    parser.add_argument("--soak", type=int, default=0, help="this many new runs, then quit")


def _tokens(path: str) -> list[str]:
    if not path:
        return []
    with open(path) as tokens:
        found: list[str] = json.load(tokens)
    return found


@events.quitting.add_listener
def _keep_exit_code(environment: Any, **_: Any) -> None:
    # scripts/load.py judges errors itself; locust's own exit code would count 429s too.
    environment.process_exit_code = 0
