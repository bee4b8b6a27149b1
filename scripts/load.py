"""`nox -s load`: many users at once against a real `fiddle serve`, with locust (headless).

Starts `fiddle serve` on a fresh data directory (its own TMPDIR, one trusted proxy so each
simulated user is a client address of its own, a signed-in account per user), warms it up,
notes its resources, runs scripts/locustfile.py, notes them again, and prints: throughput,
p50/p99 per request kind, 429s (with Retry-After: the service's "not now") apart from errors,
and the service's memory (RSS), open descriptors, processes and temp files before and after.
Exits 1 on any error, or when descriptors, processes or temp files grew.

    nox -s load                       # 50 users for 60 s
    nox -s load -- --users 5 --seconds 10
    nox -s load -- --soak 10000       # 10,000 new runs; resources sampled as they go
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fiddle_protocol import outputs  # noqa: E402
from functions.devserver import free_port, serve_command, stop, wait_until_healthy  # noqa: E402

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
RETRY_LATER = "429 with Retry-After"
# RSS may grow by what the functions' read cache holds (64 MiB) and allocator slack.
RSS_TOLERANCE_MIB = 80.0
# Descriptors may grow by the keep-alive connections between the functions and the runner (both
# ends) beyond those the warm-up opened: requests keeps up to 10 per runner, so the growth is
# bounded, and a soak shows whether it stops there.
FD_TOLERANCE = 20
SETTLE_SECONDS = 3.0
WARM_UP_CLIENTS = 12
SAMPLE_SECONDS = 30.0


@dataclass(frozen=True)
class Resources:
    functions_rss_mib: float
    runner_rss_mib: float
    open_fds: int
    processes: int
    temp_files: int


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fiddle-load-") as work:
        return _load(args, Path(work))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--soak", type=int, default=0, help="this many new runs, then stop")
    return parser


def _load(args: argparse.Namespace, work: Path) -> int:
    data_dir, tmp = work / "data", work / "tmp"
    tmp.mkdir()
    *tokens, warm_up_token = _tokens(data_dir, args.users + 1)
    env = {**os.environ, "FIDDLE_TRUSTED_PROXIES": "1", "TMPDIR": str(tmp)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = serve_command(port, data_dir, examples=False)
    serve = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(url, serve)
        _warm_up(url, warm_up_token)
        before = _resources(serve.pid, [tmp, data_dir / "blobs" / "tmp"])
        samples = _Sampler(serve.pid, [tmp, data_dir / "blobs" / "tmp"]) if args.soak else None
        started = time.monotonic()
        _locust(args, url, tokens, work / "stats")
        elapsed = time.monotonic() - started
        if samples:
            samples.stop()
        time.sleep(SETTLE_SECONDS)
        after = _resources(serve.pid, [tmp, data_dir / "blobs" / "tmp"])
    finally:
        stop(serve)
    ok = _report_requests(work / "stats", elapsed)
    if samples:
        samples.report()
    return 0 if _report_resources(before, after) and ok else 1


def _tokens(data_dir: Path, users: int) -> list[str]:
    """A signed-in account (its API token) per simulated user."""
    from functions.accounts import Accounts
    from functions.docstore.factory import make_document_store

    data_dir.mkdir(parents=True)
    accounts = Accounts(make_document_store("sqlite", data_dir))
    tokens = []
    for number in range(users):
        accounts.create_user(f"load{number}", "a long enough password")
        tokens.append(accounts.create_token(f"load{number}"))
    return tokens


def _warm_up(url: str, token: str) -> None:
    """Signed-in runs from WARM_UP_CLIENTS addresses at once, three times, and reads of what
    they stored: so "before" is a service that has served at its concurrency (every sandbox
    host has run; every server thread holds its connections, to the runner and to SQLite),
    not a cold one."""
    with ThreadPoolExecutor(WARM_UP_CLIENTS) as pool:
        for round_ in range(3):
            tags = [f"{round_}-{n}" for n in range(WARM_UP_CLIENTS)]
            for digest in pool.map(partial(_warm_up_run, url, token), tags):
                raster = f"{url}/i/{digest}{outputs.RASTER.suffix}"
                requests.get(raster, timeout=30).raise_for_status()
                requests.get(f"{url}/c/{digest}", timeout=30).raise_for_status()


def _warm_up_run(url: str, token: str, tag: str) -> str:
    while True:
        answer = requests.post(
            f"{url}/_/run",
            json={"code": f"def draw(canvas):\n    pass\n# warm-up {tag}\n"},
            headers={
                "X-Forwarded-For": f"10.255.{tag.replace('-', '.')}",
                "Authorization": f"Bearer {token}",
            },
            timeout=60,
        )
        if answer.status_code != 429:
            answer.raise_for_status()
            return str(answer.json()["fiddleHash"])
        time.sleep(float(answer.headers.get("Retry-After", "1")))


def _locust(args: argparse.Namespace, url: str, tokens: list[str], prefix: Path) -> None:
    seconds = args.seconds if not args.soak else 6 * 3600  # a soak stops itself
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{seconds}s", "--stop-timeout", "30", "--host", url,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    tokens_file = prefix.with_name("tokens.json")
    tokens_file.write_text(json.dumps(tokens))
    command += ["--tokens-file", str(tokens_file), "--soak", str(args.soak)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"load: locust failed with status {done.returncode}")


# --- resources of the service ----------------------------------------------------------------


def _resources(pid: int, temp_dirs: list[Path]) -> Resources:
    runner_tree = _descendants(pid)
    return Resources(
        functions_rss_mib=_rss_mib(pid),
        runner_rss_mib=sum(_rss_mib(child) for child in runner_tree),
        open_fds=sum(_fds(process) for process in (pid, *runner_tree)),
        processes=1 + len(runner_tree),
        temp_files=sum(_files(directory) for directory in temp_dirs),
    )


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _files(directory: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(directory))


class _Sampler:
    """The service's resources every SAMPLE_SECONDS while a soak runs."""

    def __init__(self, pid: int, temp_dirs: list[Path]) -> None:
        self.pid, self.temp_dirs = pid, temp_dirs
        self.samples: list[tuple[float, Resources]] = []
        self._started = time.monotonic()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopping.wait(SAMPLE_SECONDS):
            elapsed = time.monotonic() - self._started
            self.samples.append((elapsed, _resources(self.pid, self.temp_dirs)))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def report(self) -> None:
        print(f"\nduring the soak (every {SAMPLE_SECONDS:.0f} s):")
        print(f"{'s':>6} {'functions MiB':>14} {'runner MiB':>11} {'fds':>5} {'procs':>6}", end="")
        print(f" {'tmp':>5}")
        for elapsed, res in self.samples:
            print(
                f"{elapsed:6.0f} {res.functions_rss_mib:14.1f} {res.runner_rss_mib:11.1f} "
                f"{res.open_fds:5d} {res.processes:6d} {res.temp_files:5d}"
            )


# --- the report -------------------------------------------------------------------------------


def _report_requests(prefix: Path, elapsed: float) -> bool:
    """Print the table; False when any answer was an error (not a 429 with Retry-After)."""
    stats, failures = _csv(f"{prefix}_stats.csv"), _csv(f"{prefix}_failures.csv")
    print(f"\n{'kind':<14} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'429':>5} {'errors':>6}")  # fmt: skip
    errors_total = 0
    for row in stats:
        name = row["Name"] if row["Name"] != "Aggregated" else "all"
        retry = _failures_of(failures, row["Name"], lambda error: RETRY_LATER in error)
        errors = int(row["Failure Count"]) - retry
        errors_total += errors if name != "all" else 0
        print(
            f"{name:<14} {row['Request Count']:>9} {float(row['Requests/s']):7.1f} "
            f"{row['50%']:>7} {row['99%']:>7} {retry:>5} {errors:>6}"
        )
    for (kind, name, error), count in sorted(_grouped(failures).items()):
        print(f"  {kind}: {name}: {error} x{count}")
    print(f"(over {elapsed:.0f} s)")
    return errors_total == 0


def _grouped(failures: list[dict[str, str]]) -> dict[tuple[str, str, str], int]:
    """Failures by kind, request kind and sentence (numbers, such as seconds to wait, as N)."""
    grouped: dict[tuple[str, str, str], int] = {}
    for failure in failures:
        kind = "429" if RETRY_LATER in failure["Error"] else "error"
        error = re.sub(r"\d+", "N", failure["Error"])
        key = (kind, failure["Name"], error)
        grouped[key] = grouped.get(key, 0) + int(failure["Occurrences"])
    return grouped


def _csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as rows:
        return list(csv.DictReader(rows))


def _failures_of(failures: list[dict[str, str]], name: str, kind: object) -> int:
    assert callable(kind)
    return sum(
        int(f["Occurrences"])
        for f in failures
        if (name == "Aggregated" or f["Name"] == name) and kind(f["Error"])
    )


def _report_resources(before: Resources, after: Resources) -> bool:
    print(f"\n{'service':<20} {'before':>9} {'after':>9} {'change':>9}")
    for field in fields(Resources):
        first, last = getattr(before, field.name), getattr(after, field.name)
        print(f"{field.name:<20} {first:9.1f} {last:9.1f} {last - first:+9.1f}")
    grew = [
        name for name in ("processes", "temp_files") if getattr(after, name) > getattr(before, name)
    ]
    if after.open_fds > before.open_fds + FD_TOLERANCE:
        grew.append(f"open_fds (+{after.open_fds - before.open_fds}, more than {FD_TOLERANCE})")
    memory = after.functions_rss_mib + after.runner_rss_mib
    memory -= before.functions_rss_mib + before.runner_rss_mib
    if memory > RSS_TOLERANCE_MIB:
        grew.append(f"memory (+{memory:.0f} MiB, more than {RSS_TOLERANCE_MIB:.0f})")
    print("resources: " + ("grew: " + ", ".join(grew) if grew else "no growth"))
    return not grew


if __name__ == "__main__":
    sys.exit(main())
