"""`fiddle runner`: the runner process, serving the protocol over HTTP.

Its command-line flags say how it runs; the environment (VARIABLES, read here and nowhere else
on the runner) holds what it must share with its functions: how they sign run requests.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from fiddle_protocol.environment import Variable, read_all
from runner_vm.builds.catalog import DEFAULT_BUILDS_DIR
from runner_vm.policy import DEFAULT_POLICY_PATH, load_policy
from runner_vm.sandbox.base import SandboxUnavailable
from runner_vm.service.pool import HostDied, default_pool_size
from runner_vm.service.runner import BACKENDS, RunnerService, RunnerSettings


def _flag(value: str, _name: str) -> bool:
    return bool(value)


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "FIDDLE_RUNNER_SECRET", "secret", "",
        "The HMAC key run requests must be signed with (the functions' FIDDLE_RUNNER_SECRET)."
        " Unset, and without FIDDLE_RUNNER_AUDIENCE: runs are taken from loopback only.",
    ),
    Variable(
        "FIDDLE_RUNNER_AUDIENCE", "audience", "",
        "On Google Cloud: take run requests carrying a Google ID token for this audience instead"
        " (the functions' FIDDLE_RUNNER_AUDIENCE).",
    ),
    Variable(
        "FIDDLE_RUNNER_CALLER", "caller", "",
        "With FIDDLE_RUNNER_AUDIENCE: the one service account (its e-mail) whose tokens are"
        " taken; any Google account can mint a token for any audience. Unset: any caller's.",
    ),
    Variable(
        "FIDDLE_BUILDS_DIR", "builds_dir", str(DEFAULT_BUILDS_DIR),
        "Where the runner keeps its Skia builds (`fiddle builds` installs them there);"
        " --builds-dir wins.",
    ),
    Variable(
        "FIDDLE_NO_GPU", "no_gpu", "",
        "Any value: the runner's hosts make no GL context, so runs have no GPU outputs and say"
        " why (operators of machines whose GL misbehaves; tests of the no-GPU path).",
        _flag,
    ),
    Variable(
        "FIDDLE_GL_COLD", "gl_cold", "",
        "Any value: every child makes a GL context of its own instead of drawing on its host's"
        " warm one. Only to measure what the warm context saves (scripts/bench.py).",
        _flag,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RunnerEnvironment:
    """What the runner reads from its environment: who may send it runs, where its builds are."""

    secret: str = ""
    audience: str = ""
    caller: str = ""
    builds_dir: str = str(DEFAULT_BUILDS_DIR)
    no_gpu: bool = False
    gl_cold: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunnerEnvironment:
        return cls(**read_all(VARIABLES, os.environ if env is None else env))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (8081)")
    parser.add_argument(
        "--sandbox", default="auto", choices=["auto", *BACKENDS],
        help="sandbox backend; auto (the default) picks the strongest that works here",
    )  # fmt: skip
    parser.add_argument(
        "--hosts", type=int, default=default_pool_size(),
        help="warm sandbox hosts of HEAD (2 x cores + 2: a host costs little while its run sleeps)",
    )  # fmt: skip
    parser.add_argument("--max-waiting", type=int, default=16, help="runs that may queue (16)")
    parser.add_argument(
        "--policy", type=Path, default=DEFAULT_POLICY_PATH,
        help="sandbox policy file (runner_vm/data/policy.toml)",
    )  # fmt: skip
    add_builds_dir(parser)
    parser.add_argument(
        "--warm-builds", type=int, default=2,
        help="builds besides HEAD kept warm at most, least recently used out first (2)",
    )  # fmt: skip
    parser.add_argument(
        "--build-hosts", type=int, default=2, help="warm hosts of each build besides HEAD (2)"
    )


def add_builds_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--builds-dir", type=Path, default=None,
        help=f"where the Skia builds are (FIDDLE_BUILDS_DIR, else ./{DEFAULT_BUILDS_DIR})",
    )  # fmt: skip


def builds_dir(args: argparse.Namespace) -> Path:
    """--builds-dir, else FIDDLE_BUILDS_DIR, else ./data/builds."""
    if args.builds_dir is not None:
        return Path(args.builds_dir)
    return Path(RunnerEnvironment.from_env().builds_dir)


def run_runner(args: argparse.Namespace) -> int:
    from waitress import serve

    from fiddle_protocol.signing import make_verifier
    from runner_vm.service.server import create_runner_app

    env = RunnerEnvironment.from_env()
    settings = RunnerSettings(
        backend=args.sandbox,
        pool_size=args.hosts,
        max_waiting=args.max_waiting,
        builds_dir=builds_dir(args),
        build_hosts=args.build_hosts,
        warm_builds=args.warm_builds,
        no_gpu=env.no_gpu,
        gl_cold=env.gl_cold,
    )
    if min(args.hosts, args.build_hosts) < 1 or args.warm_builds < 0:
        print("fiddle runner: --hosts and --build-hosts must be 1 or more, --warm-builds 0 or "
              "more", file=sys.stderr)  # fmt: skip
        return 2
    try:
        runner = RunnerService(settings, load_policy(args.policy))
    except (SandboxUnavailable, ValueError) as why:
        print(f"fiddle runner: {why}", file=sys.stderr)
        return 2
    try:
        runner.start()
    except HostDied as why:
        print(f"fiddle runner: {why}", file=sys.stderr)
        runner.stop()
        return 2
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(f"fiddle runner: sandbox {runner.backend.name!r}, HEAD {runner.build.runid}, "
          f"listening on {args.host}:{args.port}", file=sys.stderr, flush=True)  # fmt: skip
    try:
        verifier = make_verifier(env.secret, env.audience, env.caller)
        threads = settings.warm().most_hosts() + args.max_waiting + 2
        serve(create_runner_app(runner, verifier), host=args.host, port=args.port,
              threads=threads, _quiet=True)  # fmt: skip
    finally:
        runner.stop()
    return 0


def _exit_on_signal(signo: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signo)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="fiddle runner")
    add_arguments(parser)
    return run_runner(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
