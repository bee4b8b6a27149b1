"""Benchmarks of the fiddle service on this machine; run with `nox -s bench`.

Prints p50/p95 of: the in-process floor (no sandbox), a cold `python draw.py` process, a new run
through HTTP (warm sandbox), a cached run, an image GET; then runs per second at several
concurrencies, of sandboxed runs straight to the runner and of new runs through `/_/run` (run and
store); then the serving table (scripts/bench_serving.py): requests per second of stored outputs,
fiddle JSON and source images at 1 to 16 connections beside a bare Flask handler (`--serving-only`
prints only that); then what the GPU output and a 1-second animation add to a run, on runners
without a GPU, with GL warm in the host, and with a GL context made in each child (`--gpu-only`:
only that); then, with the Skia builds of `--builds-dir` (the default ones), a warm run's p50 at
each build, what a cold build start costs, runs per second with every build warm, and the memory
of each warm host (from /proc/<pid>/smaps_rollup; `--builds-only` prints only those). Everything
runs on loopback against runners and a `fiddle serve` started here.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from functions.devserver import free_port, runner_process, serve_command, stop, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
# The default Skia builds, where scripts/setup installs them.
DEFAULT_BUILDS = ROOT / "data" / "builds"
sys.path.insert(0, str(ROOT))  # scripts/ is no package that is installed

from scripts.bench_serving import report_serving  # noqa: E402

DRAW = """
def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorRED, StrokeWidth=10,
                       Style=skia.Paint.kStroke_Style)
    canvas.drawLine(20, 20, 100, 100, paint)
    canvas.drawCircle(128, 128, 60, skia.Paint(AntiAlias=True, Color=skia.ColorBLUE))
"""
COLD_SCRIPT = f"""
import skia
from fiddle_protocol.options import FiddleOptions
from runner_vm.drawing import passes, render
{DRAW}
for step in passes.PASSES:
    if step.name in ("raster", "pdf", "skp"):  # the CPU's still outputs, as the floor has
        step.render(render.Program(draw), FiddleOptions())
"""


def unique_code() -> str:
    return f"# {uuid.uuid4()}\n{DRAW}"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})"


def timed(action: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def floor(count: int) -> list[float]:
    from fiddle_protocol.messages import RunRequest
    from runner_vm.drawing import execute, render

    render.warm_up()
    request = RunRequest("bench", DRAW)  # a new fiddle's options: 256x256
    return timed(lambda: execute.run(request), count)


def cold(count: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return timed(
        lambda: subprocess.run([sys.executable, "-c", COLD_SCRIPT], env=env, check=True), count
    )


OneRun = Callable[[http.client.HTTPConnection], object]
# Runs per second, and the cores busy meanwhile.
Rate = tuple[float, float]


def drive(url: str, one_run: OneRun, concurrency: int, total: int) -> None:
    """`total` runs by `concurrency` clients, each on its own kept-alive connection."""
    counts = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]

    def client(count: int) -> None:
        connection = connect(url)
        try:
            for _ in range(count):
                one_run(connection)
        finally:
            connection.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, counts))


def busy_jiffies() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        # user, nice, system, idle, iowait, irq, softirq, steal; guest time is already in user.
        fields = [int(value) for value in stat.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def servers_cpu_seconds() -> float:
    """CPU seconds used so far by the servers this benchmark started (the runner with its hosts
    and children, `fiddle serve`): every live process below this one, with the CPU of the
    children each has reaped. Unlike the machine's counters, other work on the machine does not
    count."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while being listed
        # After the command: state, ppid, ..., utime (12), stime, cutime, cstime (15).
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = sum(int(value) for value in fields[11:15]) / tick
    me = os.getpid()
    return sum(seconds for pid, seconds in used.items() if _descends(pid, me, parents))


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    while pid in parents and parents[pid] != ancestor:
        pid = parents[pid]
    return parents.get(pid) == ancestor


@dataclass(frozen=True)
class Window:
    """Runs, seconds, busy and total CPU jiffies of the machine, and the CPU seconds the servers
    used, over one or more windows."""

    runs: int
    seconds: float
    busy: int
    total: int
    servers_cpu: float = 0.0

    def __add__(self, other: Window) -> Window:
        return Window(self.runs + other.runs, self.seconds + other.seconds,
                      self.busy + other.busy, self.total + other.total,
                      self.servers_cpu + other.servers_cpu)  # fmt: skip

    def rate(self) -> Rate:
        """Runs per second, and how many of the machine's cores were busy meanwhile."""
        share = self.busy / max(1, self.total)
        return self.runs / self.seconds, share * (os.cpu_count() or 1)


def measured_window(url: str, one_run: OneRun, concurrency: int, total: int) -> Window:
    busy_before, all_before = busy_jiffies()
    cpu_before = servers_cpu_seconds()
    started = time.perf_counter()
    drive(url, one_run, concurrency, total)
    seconds = time.perf_counter() - started
    busy_after, all_after = busy_jiffies()
    cpu = servers_cpu_seconds() - cpu_before
    return Window(total, seconds, busy_after - busy_before, all_after - all_before, cpu)


def post_run(connection: http.client.HTTPConnection, code: str) -> dict[str, Any]:
    body = json.dumps({"code": code, "options": {}})
    return succeeded(json.loads(fetch(connection, "POST", "/_/run", body)))


def succeeded(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer of a run, which must have compiled and run: a failing fiddle is not timed."""
    if answer.get("runtime_error") or answer.get("compile_errors"):
        raise RuntimeError(f"benchmark fiddle failed: {answer}")
    return answer


# fiddle serve's HTTP threads; the serving table's bare handler gets as many.
SERVE_THREADS = 8


def start_service(data_dir: str, runner_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # Without the examples, which would otherwise run beside the first measurements.
    command = [*serve_command(port, data_dir, examples=False), "--threads", str(SERVE_THREADS)]
    # Benchmarks send far more than a person would, all from one address: lift the rate limit,
    # the fair share of runs in flight and the storage quota for them.
    env = {
        **os.environ,
        "FIDDLE_RUNNERS": runner_url,
        "FIDDLE_RATE_LIMIT_RUN": "1000000/minute",
        "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT": "0",
        "FIDDLE_QUOTA_BYTES_PER_HOUR": "0",
    }
    process = subprocess.Popen(command, start_new_session=True, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, process)
    return process, base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sandbox", default="auto")
    # As many hosts as a runner keeps by default: with fewer, concurrency 8 is turned away (429).
    parser.add_argument("--hosts", type=int, default=2 * (os.cpu_count() or 1) + 2)
    parser.add_argument("--serve-seconds", type=float, default=2.0, help="each serving window")
    parser.add_argument("--serve-rounds", type=int, default=3, help="serving rounds (median)")
    parser.add_argument("--serving-only", action="store_true", help="only the serving table")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU and animation costs")
    parser.add_argument("--builds-dir", type=Path, default=DEFAULT_BUILDS)
    parser.add_argument("--builds-only", action="store_true", help="only the builds' numbers")
    args = parser.parse_args()
    if args.gpu_only:
        gpu_benchmarks(args.sandbox, args.count)
        return
    if not args.builds_only:
        service_and_runner(args)
    if not (args.serving_only or args.builds_only):
        gpu_benchmarks(args.sandbox, args.count)
    if not args.serving_only:
        builds_benchmarks(args)


def service_and_runner(args: argparse.Namespace) -> None:
    if not args.serving_only:
        report("floor, in-process, no sandbox", floor(args.count))
        report("cold `python draw.py` process", cold(max(5, args.count // 6)))
    # The runner's one JSON log line per run would bury the numbers.
    quiet_runner = runner_process(args.sandbox, args.hosts, stderr=subprocess.DEVNULL)
    # The store lives where `fiddle serve` keeps it by default (beside the code, not in /tmp).
    # This machine's ext4 has no journal, and without one the kernel skips inodes freed in the
    # last minutes when it allocates new ones: after the test suite has deleted thousands of files
    # under /tmp, creating one there costs up to 1 ms of CPU instead of 0.05 (measured).
    (ROOT / "build").mkdir(exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="bench-data-", dir=ROOT / "build")
    runs = max(24, args.count)
    with quiet_runner as runner_url, scratch as data_dir:
        if not args.serving_only:
            runner_benchmarks(runner_url, args.count)
            runner_rates = interleaved_rounds(runner_url, runner_run, runs, args.rounds)
            report_throughput("runner", runner_rates)
        process, base = start_service(data_dir, runner_url)
        try:
            if not args.serving_only:
                serve_benchmarks(base, args.count)
                service_rates = interleaved_rounds(base, service_run, runs, args.rounds)
                report_throughput("/_/run", service_rates)
            report_serving(base, data_dir, SERVE_THREADS, args.serve_seconds, args.serve_rounds)
        finally:
            stop(process, timeout=30)


# The runners the GPU benchmarks compare, by the switches in their environment
# (runner_vm/drawing/gl.py).
GPU_MODES = {
    "no GPU (FIDDLE_NO_GPU)": {"FIDDLE_NO_GPU": "1"},
    "GL warm in the host": {},
    "GL made per child (FIDDLE_GL_COLD)": {"FIDDLE_GL_COLD": "1"},
}
ONE_SECOND = {"animated": True, "duration": 1.0}


def gpu_benchmarks(sandbox: str, count: int) -> None:
    """A still 256x256 run and a 1-second animation (61 frames, 256x256) straight to a runner
    in each GPU mode: latency, and the runner's CPU per run (its whole process tree)."""
    for mode, switches in GPU_MODES.items():
        env = {**os.environ, **switches}
        with runner_process(sandbox, 2, env=env, stderr=subprocess.DEVNULL) as runner_url:
            connection = connect(runner_url)
            for what, options in (("still", {}), ("1 s animation", ONE_SECOND)):
                measure_gpu_mode(connection, f"{mode}, {what}", options, count)


def measure_gpu_mode(
    connection: http.client.HTTPConnection, what: str, options: dict[str, Any], count: int
) -> None:
    from fiddle_protocol.messages import RunRequest
    from fiddle_protocol.options import FiddleOptions

    def one() -> None:
        request = RunRequest(str(uuid.uuid4()), unique_code(), FiddleOptions(**options))
        succeeded(json.loads(fetch(connection, "POST", "/run", request.to_bytes().decode())))

    for _ in range(3):
        one()
    used = servers_cpu_seconds()
    samples = timed(one, count)
    cpu_ms = (servers_cpu_seconds() - used) * 1000 / count
    print(f"{what + ':':<60}{percentiles(samples)}   CPU {cpu_ms:6.1f} ms/run", flush=True)


def report(what: str, samples: list[float]) -> None:
    print(f"{what + ':':<46}{percentiles(samples)}", flush=True)


def connect(url: str) -> http.client.HTTPConnection:
    """A kept-alive connection: the latencies are the service's, not a client library's (requests
    spends 1-3 ms of CPU per call, on the same two cores)."""
    address = urlsplit(url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=60)


def fetch(connection: http.client.HTTPConnection, method: str, path: str, body: str = "") -> bytes:
    headers = {"Content-Type": "application/json"} if body else {}
    connection.request(method, path, body or None, headers)
    answer = connection.getresponse()
    data = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {answer.status} {data[:200]!r}")
    return data


def runner_run(connection: http.client.HTTPConnection) -> None:
    from fiddle_protocol.messages import RunRequest

    request = RunRequest(str(uuid.uuid4()), unique_code())  # 256x256
    succeeded(json.loads(fetch(connection, "POST", "/run", request.to_bytes().decode())))


def service_run(connection: http.client.HTTPConnection) -> None:
    post_run(connection, unique_code())


def runner_benchmarks(runner_url: str, count: int) -> None:
    connection = connect(runner_url)
    sandbox = json.loads(fetch(connection, "GET", "/healthz"))["sandbox"]
    for _ in range(5):
        runner_run(connection)
    report(
        f"warm sandboxed run, runner HTTP ({sandbox})",
        timed(lambda: runner_run(connection), count),
    )


def serve_benchmarks(base: str, count: int) -> None:
    connection = connect(base)
    for _ in range(5):
        service_run(connection)
    report("new run via /_/run (run + store)", timed(lambda: service_run(connection), count))
    code = unique_code()
    digest = post_run(connection, code)["fiddleHash"]
    report("cached run (same hash again)", timed(lambda: post_run(connection, code), count))
    from fiddle_protocol.outputs import RASTER

    suffix = RASTER.suffix
    image = f"/i/{digest}{suffix}"
    report(f"GET /i/<hash>{suffix}", timed(lambda: fetch(connection, "GET", image), count))


# The order of each round's first half; the second half mirrors it. Concurrencies 1 and 4, whose
# ratio is the target, sit side by side in the middle: 2, 8, 1, 4, 4, 1, 8, 2.
ROUND_ORDER = (2, 8, 1, 4)
LEVELS = tuple(sorted(ROUND_ORDER))  # the order they are reported in


def interleaved_rounds(
    url: str, one_run: OneRun, runs: int, rounds: int
) -> list[dict[int, Window]]:
    """Every concurrency measured twice in each round, in mirrored order.

    This machine's speed drifts by tens of percent within a minute (its neighbours), so measuring
    all of concurrency 1 and then all of concurrency 4 would compare two different machines. Within
    a round, the mirrored order gives every concurrency the same mean time, so a steady drift
    weighs on all of them alike; the c4/c1 ratio is taken within each round.
    """
    history = []
    for _ in range(rounds):
        windows = {c: measured_window(url, one_run, c, runs) for c in ROUND_ORDER}
        for concurrency in reversed(ROUND_ORDER):
            windows[concurrency] += measured_window(url, one_run, concurrency, runs)
        history.append(windows)
    return history


def report_throughput(what: str, windows: list[dict[int, Window]]) -> None:
    """The median rate over rounds at each concurrency, the cores busy meanwhile (load generator
    included: how far from saturated each concurrency leaves the machine), the median c4/c1
    ratio with its range, and the servers' CPU time per run (the median over rounds, every
    concurrency together)."""
    history = [{c: window.rate() for c, window in round_.items()} for round_ in windows]
    rounds = len(history)
    for concurrency in LEVELS:
        rate = statistics.median(r[concurrency][0] for r in history)
        cores = statistics.median(r[concurrency][1] for r in history)
        label = f"{what} runs/s at concurrency {concurrency}:"
        print(f"{label:<46}{rate:7.1f}  (median of {rounds} rounds; {cores:.2f} cores busy)")
    ratios = sorted(r[4][0] / r[1][0] for r in history)
    label = f"{what} throughput, concurrency 4 over 1:"
    print(
        f"{label:<46}{statistics.median(ratios):7.2f}x"
        f"  (median of {rounds} rounds; range {ratios[0]:.2f}-{ratios[-1]:.2f})",
        flush=True,
    )
    per_run = sorted(cpu_per_run_ms(round_.values()) for round_ in windows)
    label = f"{what} servers' CPU per run:"
    print(
        f"{label:<46}{statistics.median(per_run):7.2f} ms"
        f"  (median of {rounds} rounds; range {per_run[0]:.2f}-{per_run[-1]:.2f})",
        flush=True,
    )


# --------------------------------------------------------------------------------------------
# Skia builds


def builds_benchmarks(args: argparse.Namespace) -> None:
    from runner_vm.builds.catalog import BuildsDir

    builds = BuildsDir(args.builds_dir).builds()
    if len(builds) < 2:
        print(f"builds: skipped, {args.builds_dir} has {len(builds)} builds "
              "(scripts/setup installs the default ones)", flush=True)  # fmt: skip
        return
    runids = sorted((build.runid for build in builds), reverse=True)
    count = max(20, args.count // 2)
    warm = ("--build-hosts", "2", "--warm-builds", str(len(runids)))
    with runner_process(args.sandbox, args.hosts, stderr=subprocess.DEVNULL,
                        builds_dir=args.builds_dir, extra=warm) as url:  # fmt: skip
        connection = connect(url)
        for runid in runids:
            for _ in range(5):
                build_run(connection, runid)
            samples = timed(functools.partial(build_run, connection, runid), count)
            report(f"warm run at {runid}", samples)
        window = measured_window(url, every_build(runids), 4, count * 2)
        rate, cores = window.rate()
        print(f"{'runs/s, every build warm, concurrency 4:':<46}{rate:7.1f}"
              f"  ({cores:.2f} cores busy, builds in turn)", flush=True)  # fmt: skip
        report_memory(host_memory(os.getpid()))
    cold = ("--build-hosts", "1", "--warm-builds", "0")
    with runner_process(args.sandbox, 1, stderr=subprocess.DEVNULL,
                        builds_dir=args.builds_dir, extra=cold) as url:  # fmt: skip
        connection = connect(url)
        oldest = runids[-1]
        samples = timed(lambda: cold_start(connection, oldest), max(8, count // 3))
        report(f"cold build start + run, {oldest}", samples)


def build_run(connection: http.client.HTTPConnection, runid: str) -> None:
    from fiddle_protocol.messages import RunRequest

    request = RunRequest(str(uuid.uuid4()), unique_code(), build=runid)
    succeeded(json.loads(fetch(connection, "POST", "/run", request.to_bytes().decode())))


def every_build(runids: list[str]) -> OneRun:
    turn = iter(range(1 << 62))

    def one_run(connection: http.client.HTTPConnection) -> None:
        build_run(connection, runids[next(turn) % len(runids)])

    return one_run


def cold_start(connection: http.client.HTTPConnection, runid: str) -> None:
    """A run at a build that is not warm (with --warm-builds 0 its hosts start for the run and
    stop after it: wait until they have)."""
    build_run(connection, runid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        builds = json.loads(fetch(connection, "GET", "/version"))["builds"]
        if not any(build["warm"] for build in builds if build["runid"] == runid):
            return
        time.sleep(0.05)


@dataclass(frozen=True)
class HostMemory:
    build: str
    rss_mib: float  # the host process alone
    pss_mib: float  # host, zygote and spare child: each page shared by n processes counts 1/n
    private_mib: float  # the tree's pages no other process maps: gone with the host


def host_memory(ancestor: int) -> list[HostMemory]:
    """Every sandbox host below `ancestor`, with its build (the source of its /opt/fiddle/build
    bind, from its mountinfo) and the memory of its tree (host, zygote, spare child)."""
    parents = process_parents()
    found = []
    for pid in parents:
        command = _read(f"/proc/{pid}/cmdline")
        program = Path(command.split(b"\0")[0].decode(errors="replace")).name
        if b"\0runner_vm.host\0" not in command or not program.startswith("python"):
            continue  # not a host (its container's launcher names it too)
        if (
            not _descends(pid, ancestor, parents)
            or _read(f"/proc/{parents[pid]}/cmdline") == command
        ):
            continue  # another's, or a zygote or child (a fork of its host: counted with it)
        tree = [pid, *(p for p in parents if _descends(p, pid, parents))]
        rollups = [smaps_rollup(p) for p in tree]
        found.append(HostMemory(
            build_of(pid),
            rollups[0].get("Rss", 0) / 1024,
            sum(r.get("Pss", 0) for r in rollups) / 1024,
            sum(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rollups) / 1024,
        ))  # fmt: skip
    return found


def process_parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except OSError:
                continue
    return parents


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def smaps_rollup(pid: int) -> dict[str, int]:
    """The kB counts of /proc/<pid>/smaps_rollup."""
    counts = {}
    for line in _read(f"/proc/{pid}/smaps_rollup").decode().splitlines()[1:]:
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            counts[key] = int(value.split()[0])
    return counts


def build_of(pid: int) -> str:
    for line in _read(f"/proc/{pid}/mountinfo").decode().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].endswith("/build"):
            return Path(fields[3]).name
    return "?"


def report_memory(hosts: list[HostMemory]) -> None:
    by_build: dict[str, list[HostMemory]] = {}
    for host in hosts:
        by_build.setdefault(host.build, []).append(host)
    for build, found in sorted(by_build.items(), reverse=True):
        pss = statistics.median(h.pss_mib for h in found)
        private = statistics.median(h.private_mib for h in found)
        rss = statistics.median(h.rss_mib for h in found)
        label = f"memory per warm host, {build}:"
        print(
            f"{label:<46}private {private:5.1f} MiB  Pss {pss:5.1f} MiB  host Rss {rss:5.1f}"
            f" MiB  (median of {len(found)} hosts; host + zygote + spare child)",
            flush=True,
        )


def cpu_per_run_ms(windows: Iterable[Window]) -> float:
    total = sum(windows, Window(0, 0.0, 0, 0))
    return total.servers_cpu * 1000 / max(1, total.runs)


if __name__ == "__main__":
    main()
