"""Serving benchmark: requests per second of stored outputs, pages' JSON and source images through
`fiddle serve`, side by side with a bare Flask handler on the same WSGI server (waitress, the same
number of threads) that returns the same bytes from memory, at 1, 2, 4, 8 and 16 connections.

Part of `nox -s bench` (scripts/bench.py calls `report_serving`); run alone against a running
`fiddle serve` with `python scripts/bench_serving.py --against URL --data-dir DIR`.

The load comes from `wrk` (Debian's; scripts/setup --tests installs it) with one thread, which
leaves the other core of this 2-core machine to the server; without wrk, from Python threads on
kept-alive connections, which costs far more CPU per request and says so in the report. Each
round measures every target at every concurrency once, the bare handler first, in an order that
is reversed every other round, so that the machine's drift (its neighbours) weighs on all alike.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fiddle_protocol.outputs import RASTER as RASTER_OUTPUT
from functions.devserver import free_port

RASTER = RASTER_OUTPUT.suffix

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = (1, 2, 4, 8, 16)
# The targets of issue 20: a cache hit at 16 connections at least this share of the bare rate.
TARGET_SHARE = 0.7
# A rate counts as falling when it drops by more than this between two concurrencies: windows of
# a few seconds on this shared machine differ by a few percent with nothing changed.
NOISE = 0.05
CODE = """def draw(canvas):
    canvas.drawCircle(128, 128, 60, skia.Paint(AntiAlias=True, Color=skia.ColorBLUE))
"""
WRK_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
WRK_BAD = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    # Sent with every request: a non-matching If-None-Match makes the response cache hand the
    # request to the app (functions/responsecache.py), for the rows that show the app's own rate.
    headers: tuple[str, ...] = ()
    # Whether issue 20's targets apply (the cache hits); the app's own rows are shown beside.
    judged: bool = True


THROUGH_THE_APP = ('If-None-Match: "not-this"',)


def report_serving(base: str, data_dir: str, threads: int, seconds: float, rounds: int) -> None:
    targets, raster = stored_targets(base, data_dir)
    with bare_server(raster, threads) as bare:
        every = [Target("bare Flask handler (same bytes)", f"{bare}/bare"), *targets]
        rates = measure(every, seconds, rounds)
    print_table(every, rates, seconds, rounds)


# --- what is measured ---------------------------------------------------------------------------


def stored_targets(base: str, data_dir: str) -> tuple[list[Target], bytes]:
    """A stored fiddle and a source image in the service, and the URLs that serve them."""
    answer = request_json(base, "POST", "/_/run", json.dumps({"code": CODE, "options": {}}))
    digest, runid = answer["fiddleHash"], answer["runid"]
    raster = request(base, "GET", f"/i/{digest}{RASTER}")
    source = upload_source(base, data_dir, raster)
    targets = [
        Target(f"GET /i/<hash>{RASTER}", f"{base}/i/{digest}{RASTER}"),
        Target(f"GET /ai/<runid>/<hash>{RASTER}", f"{base}/ai/{runid}/{digest}{RASTER}"),
        Target("GET /e/<hash>", f"{base}/e/{digest}"),
        Target("GET /s/<id>", f"{base}/s/{source}"),
        Target("  /i/ through the app", f"{base}/i/{digest}{RASTER}", THROUGH_THE_APP, False),
        Target("  /e/ through the app", f"{base}/e/{digest}", THROUGH_THE_APP, False),
    ]
    return targets, raster


def upload_source(base: str, data_dir: str, png: bytes) -> int:
    """Upload png as a source image, as a user made with `fiddle admin` in the service's data."""
    fiddle = [sys.executable, "-m", "functions.cli", "admin"]
    where = ["--data-dir", data_dir]
    user = f"bench{os.getpid()}"
    subprocess.run([*fiddle, "create-user", user, *where], input="bench-password\n",
                   text=True, check=True, capture_output=True)  # fmt: skip
    token = subprocess.run([*fiddle, "create-token", user, *where], text=True, check=True,
                           capture_output=True).stdout.strip()  # fmt: skip
    boundary = "benchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    return int(json.loads(request(base, "POST", "/_/upload", body, headers))["id"])


def request(
    base: str, method: str, path: str, body: str | bytes = "", headers: dict[str, str] | None = None
) -> bytes:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request(method, path, body or None, headers or {})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {answer.status} {data[:200]!r}")
    return data


def request_json(base: str, method: str, path: str, body: str) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    answer: dict[str, object] = json.loads(request(base, method, path, body, headers))
    return answer


# --- the bare handler ---------------------------------------------------------------------------


@contextmanager
def bare_server(data: bytes, threads: int) -> Iterator[str]:
    """This file run as the bare Flask app on a free port, serving data at /bare."""
    port = free_port()
    blob = Path(tempfile.gettempdir()) / f"bench-bare-{os.getpid()}.bin"
    blob.write_bytes(data)
    command = [sys.executable, __file__, "--bare", str(port), str(blob), str(threads)]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        blob.unlink(missing_ok=True)


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with status {process.returncode}")
        try:
            request(url, "GET", "/healthz")
            return
        except (OSError, RuntimeError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def serve_bare(port: int, path: str, threads: int) -> None:
    import logging

    from flask import Flask, Response
    from waitress import serve

    from functions.serving_cpu import AUTO, pin_this_thread

    # As fiddle serve does: no "Task queue depth" line per request under load, and the HTTP
    # threads on one CPU (fiddle serve's default, --cpu auto).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    pin_this_thread(AUTO)
    data = Path(path).read_bytes()
    app = Flask("bare")
    app.add_url_rule("/bare", "bare", lambda: Response(data, mimetype="image/png"))
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


# --- load ---------------------------------------------------------------------------------------


def measure(
    targets: list[Target], seconds: float, rounds: int
) -> dict[tuple[str, int], list[float]]:
    """Rates per (URL, connections), one per round, in round order."""
    rates: dict[tuple[str, int], list[float]] = {}
    plan = [(target, c) for c in CONNECTIONS for target in targets]
    for round_number in range(rounds):
        for target, connections in plan if round_number % 2 == 0 else reversed(plan):
            rate = load(target, connections, seconds)
            rates.setdefault((target.label, connections), []).append(rate)
    return rates


def load(target: Target, connections: int, seconds: float) -> float:
    """Requests per second that `connections` kept-alive clients get from the target."""
    return (
        wrk(target, connections, seconds)
        if shutil.which("wrk")
        else threads_load(target, connections, seconds)
    )


def wrk(target: Target, connections: int, seconds: float) -> float:
    url = target.url
    headers = [option for header in target.headers for option in ("-H", header)]
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", *headers, url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    bad = WRK_BAD.search(output)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} answers were not 2xx/3xx")
    found = WRK_RATE.search(output)
    if not found:
        raise RuntimeError(f"wrk printed no rate for {url}: {output}")
    return float(found.group(1))


def threads_load(target: Target, connections: int, seconds: float) -> float:
    """The fallback: one Python thread per connection, each on its own kept-alive connection."""
    url, address = target.url, urlsplit(target.url)
    headers = dict(header.split(": ", 1) for header in target.headers)
    deadline = time.perf_counter() + seconds
    counts = [0] * connections

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        while time.perf_counter() < deadline:
            connection.request("GET", address.path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{url}: HTTP {answer.status}")
            counts[index] += 1
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


# --- the report ---------------------------------------------------------------------------------


def print_table(
    targets: list[Target], rates: dict[tuple[str, int], list[float]], seconds: float, rounds: int
) -> None:
    """Medians over rounds; the share of the bare rate and each step from one concurrency to the
    next are taken within each round (a few seconds apart) before their median, so that the
    machine's drift between rounds (its neighbours) cancels out."""
    generator = "wrk -t1" if shutil.which("wrk") else "Python threads (wrk is not installed)"
    print(f"serving, requests/s by connections ({generator}, {seconds:g} s windows, "
          f"median of {rounds} rounds):", flush=True)  # fmt: skip
    header = "".join(f"{c:>8}" for c in CONNECTIONS)
    print(f"  {'':<36}{header}   at 16 vs bare   1 -> 16")
    bare = rates_of(rates, targets[0])
    for target in targets:
        mine = rates_of(rates, target)
        row = "".join(f"{statistics.median(mine[c]):8.0f}" for c in CONNECTIONS)
        share = _median_ratio(mine[CONNECTIONS[-1]], bare[CONNECTIONS[-1]])
        verdict = _verdict(target, targets[0], share)
        print(f"  {target.label:<36}{row}   {share:5.2f}x{verdict:<8} {_trend(mine)}")
    print(flush=True)


def rates_of(rates: dict[tuple[str, int], list[float]], target: Target) -> dict[int, list[float]]:
    return {c: rates[(target.label, c)] for c in CONNECTIONS}


def _median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the ratios of the same rounds."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def _verdict(target: Target, bare: Target, share: float) -> str:
    if target is bare or not target.judged:
        return ""
    return " ok" if share >= TARGET_SHARE else f" < {TARGET_SHARE}"


def _trend(per_level: dict[int, list[float]]) -> str:
    """'holds' when no step from one concurrency to the next loses more than NOISE."""
    steps = [
        _median_ratio(per_level[after], per_level[before])
        for before, after in itertools.pairwise(CONNECTIONS)
    ]
    worst = min(steps)
    return "holds" if worst >= 1 - NOISE else f"falls (worst step {worst:.2f}x)"


# --- running alone ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bare", nargs=3, metavar=("PORT", "FILE", "THREADS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--against", help="a running fiddle serve, e.g. http://127.0.0.1:8080")
    parser.add_argument("--data-dir", help="its --data-dir (a user is made there to upload)")
    parser.add_argument("--threads", type=int, default=8, help="its --threads (8)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.bare:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        port, path, threads = args.bare
        serve_bare(int(port), path, int(threads))
        return
    if not (args.against and args.data_dir):
        parser.error("--against and --data-dir are required")
    report_serving(args.against.rstrip("/"), args.data_dir, args.threads, args.seconds, args.rounds)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
