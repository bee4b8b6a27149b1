"""`fiddle worker` (a job worker on its own) and `fiddle jobs start|list|watch|cancel` (a client
of a server's /_/jobs, with an administrator's API token)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

WATCH_POLL_SECONDS = 0.5
FINAL = ("done", "failed", "cancelled")


# --- fiddle worker ----------------------------------------------------------------------------


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where fiddles are stored (./data)"
    )
    parser.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    """Work on jobs until SIGTERM or SIGINT (then give the job held back at once)."""
    from functions.app import create_app
    from functions.config import Settings
    from functions.services import services

    settings = Settings.from_env(data_dir=args.data_dir)
    if not settings.runners:
        print("fiddle worker: set FIDDLE_RUNNERS to the runners' URLs", file=sys.stderr)
        return 2
    worker = services(create_app(settings)).worker
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, lambda *_: worker.stop())
    print(f"fiddle worker {worker.name}: watching for jobs", file=sys.stderr, flush=True)
    worker.run_forever()
    return 0


# --- fiddle jobs ------------------------------------------------------------------------------


def add_jobs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="the fiddle service")
    parser.add_argument("--token", default=None, help="an admin's API token (FIDDLE_API_TOKEN)")
    actions = parser.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start a job: rerun-named or rerun-fiddles")
    start.add_argument("kind", help="rerun-named or rerun-fiddles")
    start.add_argument("--build", help="rerun-named: the build (HEAD)")
    start.add_argument("--previous", help="rerun-named: the build compared with (the one before)")
    start.add_argument("--hash", action="append", dest="hashes", help="rerun-fiddles: a fiddle")
    start.add_argument(
        "--version", action="append", dest="builds", help='rerun-fiddles: a build, or "all"'
    )
    start.add_argument("--watch", action="store_true", help="then show its progress")
    start.set_defaults(handler=jobs_start)
    actions.add_parser("list", help="the newest jobs").set_defaults(handler=jobs_list)
    watch_or_cancel = (
        ("watch", jobs_watch, "a progress bar until the job ends"),
        ("cancel", jobs_cancel, "cancel a queued or running job"),
    )
    for name, handler, text in watch_or_cancel:
        action = actions.add_parser(name, help=text)
        action.add_argument("id")
        action.set_defaults(handler=handler)


class ApiError(Exception):
    pass


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    from functions.config import Settings

    token = args.token or Settings.from_env().api_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = args.server.rstrip("/") + path
    try:
        response = requests.request(method, url, json=body, headers=headers, timeout=30)
        answer = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ApiError(f"the server at {args.server} did not answer: {error}") from error
    if response.status_code >= 400:
        raise ApiError(answer.get("error", f"HTTP {response.status_code}"))
    return answer


def _reporting(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except ApiError as error:
            print(f"fiddle jobs: {error}", file=sys.stderr)
            return 1

    return run


def _params(args: argparse.Namespace) -> dict[str, Any]:
    if args.kind == "rerun-named":
        given = {"build": args.build, "previous": args.previous}
        return {key: value for key, value in given.items() if value}
    builds = args.builds or ["HEAD"]
    return {"hashes": args.hashes or [], "builds": "all" if builds == ["all"] else builds}


@_reporting
def jobs_start(args: argparse.Namespace) -> int:
    job = _call(args, "POST", "/_/jobs", {"kind": args.kind, "params": _params(args)})
    print(f"started job {job['id']}: {job['kind']}, {job['progress']['total']} items")
    if args.watch:
        return _watch(args, job["id"])
    return 0


@_reporting
def jobs_list(args: argparse.Namespace) -> int:
    jobs = _call(args, "GET", "/_/jobs")["jobs"]
    for job in jobs:
        progress = job["progress"]
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job["created"]))
        print(f"{job['id']}  {job['kind']:<14} {job['state']:<10} "
              f"{progress['done']}/{progress['total']} ({progress['failures']} failed)  "
              f"{created}  {job['who']}")  # fmt: skip
    if not jobs:
        print("no jobs")
    return 0


@_reporting
def jobs_watch(args: argparse.Namespace) -> int:
    return _watch(args, args.id)


@_reporting
def jobs_cancel(args: argparse.Namespace) -> int:
    job = _call(args, "POST", f"/_/jobs/{args.id}/cancel")
    print(f"job {job['id']} is {job['state']}")
    return 0


def _watch(args: argparse.Namespace, job_id: str) -> int:
    """A tqdm progress bar of the job's items until it ends; exit 0 only if it ended done."""
    from tqdm import tqdm

    job = _call(args, "GET", f"/_/jobs/{job_id}")
    with tqdm(total=job["progress"]["total"], unit="item", desc=job_id, file=sys.stderr) as bar:
        while True:
            progress = job["progress"]
            bar.update(progress["done"] - bar.n)
            bar.set_postfix(state=job["state"], failures=progress["failures"], refresh=True)
            if job["state"] in FINAL:
                break
            time.sleep(WATCH_POLL_SECONDS)
            job = _call(args, "GET", f"/_/jobs/{job_id}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(job["progress"]["counts"].items()))
    error = f"; {job['error']}" if job["error"] else ""
    print(f"job {job_id} {job['state']}: {counts or 'no items'}{error}")
    return 0 if job["state"] == "done" else 1
