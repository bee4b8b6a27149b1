"""The `fiddle` command: serve, runner, run."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from fiddle_protocol.options import FiddleOptions

# The distributions of the `runner` extra (pyproject.toml), when the project's own metadata
# cannot say (a source tree that was never installed).
RUNNER_EXTRA = ("skia-python", "pyseccomp", "numpy")
# Who the audit log names for what an operator does with `fiddle admin`.
COMMAND_LINE = "(command line)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    handler: Any = args.handler
    return int(handler(args))


def build_parser() -> argparse.ArgumentParser:
    """The `fiddle` command and its subcommands (docs/configuration.md lists their flags)."""
    parser = argparse.ArgumentParser(prog="fiddle", description="Skia Fiddle for Python.")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands.add_parser("serve", help="the whole service on this machine"))
    _runner_parser(commands.add_parser("runner", help="a runner: sandboxes that run fiddles"))
    _run_parser(commands.add_parser("run", help="run one fiddle on a server and print its URLs"))
    _builds_parser(commands.add_parser("builds", help="the Skia builds of this machine's runner"))
    _admin_parser(commands.add_parser("admin", help="accounts: create users and API tokens"))
    _site_parser(commands.add_parser("build-site", help="write the static site (editor page)"))
    _jobs_parsers(commands)
    return parser


def _serve_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where fiddles are stored (./data)"
    )
    parser.add_argument(
        "--sandbox", default="auto", help="sandbox backend of the local runner (auto)"
    )
    parser.add_argument("--threads", type=int, default=8, help="HTTP worker threads (8)")
    parser.add_argument(
        "--cpu", type=_cpu_choice, default="auto",
        help="the CPU of the HTTP threads: auto (the last one), none, or a number "
        "(functions/serving_cpu.py says why)",
    )  # fmt: skip
    parser.add_argument(
        "--builds-dir", type=Path, default=None,
        help="the local runner's Skia builds (FIDDLE_BUILDS_DIR, else <data dir>/builds)",
    )  # fmt: skip
    parser.add_argument(
        "--no-examples",
        dest="examples",
        action="store_false",
        help="do not store the editor's examples at start (they are run once if missing)",
    )
    parser.set_defaults(handler=serve)


def _jobs_parsers(commands: Any) -> None:
    from functions.jobs.cli import add_jobs_arguments, add_worker_arguments

    add_worker_arguments(commands.add_parser("worker", help="a job worker on its own"))
    add_jobs_arguments(commands.add_parser("jobs", help="start, list, watch and cancel jobs"))


def _builds_parser(parser: argparse.ArgumentParser) -> None:
    from runner_vm.builds.cli import add_arguments, run

    add_arguments(parser)
    parser.set_defaults(handler=run)


def _runner_parser(parser: argparse.ArgumentParser) -> None:
    from runner_vm.cli import add_arguments

    add_arguments(parser)
    parser.set_defaults(handler=runner)


def runner(args: argparse.Namespace) -> int:
    require_runner_extra("runner")
    from runner_vm.cli import run_runner

    return int(run_runner(args))


def require_runner_extra(command: str, otherwise: str = "") -> None:
    """Stop with one sentence when the packages a local runner needs are not installed."""
    missing = missing_runner_packages()
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise SystemExit(
            f"fiddle {command}: running fiddles here needs the runner extra, and "
            f"{', '.join(missing)} {verb} not installed: "
            f"pip install 'fiddle-service[runner]'{otherwise}."
        )


def missing_runner_packages() -> list[str]:
    """The distributions of the runner extra that are not installed."""
    from importlib import metadata

    missing = []
    for name in _runner_extra():
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _runner_extra() -> tuple[str, ...]:
    """The runner extra's distributions, as the installed project declares them."""
    import re
    from importlib import metadata

    try:
        requirements = metadata.requires("fiddle-service") or []
    except metadata.PackageNotFoundError:
        return RUNNER_EXTRA
    names = [
        re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        for requirement in requirements
        if re.search(r"""extra\s*==\s*["']runner["']""", requirement)
    ]
    return tuple(names) or RUNNER_EXTRA


def _run_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the fiddle's Python file")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--source", type=int, default=0)
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="the fiddle service")
    versions = parser.add_mutually_exclusive_group()
    versions.add_argument(
        "--version",
        default=None,
        help="the Skia build to run at: HEAD (default), m87, 87.9, a runid",
    )
    versions.add_argument(
        "--all-versions", action="store_true", help="run at every Skia build the service has"
    )
    parser.set_defaults(handler=run_file)


def _site_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="directory to write index.html and static/ into")
    parser.add_argument(
        "--api-base",
        default=None,
        help="where the pages find the JSON API (default: FIDDLE_API_BASE, else this origin)",
    )
    parser.set_defaults(handler=build_site)


def _admin_parser(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    user = actions.add_parser("create-user", help="create a user; the password is read from stdin")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true", help="give the user the admin role")
    token = actions.add_parser("create-token", help="create an API token for a user and print it")
    token.add_argument("name")
    token.add_argument("--label", default="", help="what the token is for")
    password = actions.add_parser(
        "set-password", help="replace a user's password (read from stdin); ends their sessions"
    )
    password.add_argument("name")
    remove = actions.add_parser(
        "remove-user", help="remove a user, their sessions and their API tokens"
    )
    remove.add_argument("name")
    aliases = actions.add_parser(
        "backfill-aliases",
        help="give every stored fiddle the alias of its Skia-form hash (once, after upgrading)",
    )
    for action in (user, token, password, remove, aliases):
        action.add_argument("--data-dir", type=Path, default=None, help="as for fiddle serve")
    user.set_defaults(handler=create_user)
    token.set_defaults(handler=create_token)
    password.set_defaults(handler=set_password)
    remove.set_defaults(handler=remove_user)
    aliases.set_defaults(handler=backfill_aliases)


def _documents(args: argparse.Namespace) -> Any:
    from functions.config import Settings
    from functions.docstore.factory import make_document_store

    settings = Settings.from_env(data_dir=args.data_dir)
    return make_document_store(settings.doc_store, settings.data_dir, settings.project)


def _accounts(args: argparse.Namespace) -> Any:
    from functions.accounts import Accounts

    return Accounts(_documents(args))


def create_user(args: argparse.Namespace) -> int:
    from functions.accounts import AccountError

    password = sys.stdin.readline().rstrip("\n")
    try:
        user = _accounts(args).create_user(args.name, password, admin=args.admin)
    except AccountError as error:
        print(f"fiddle admin: {error}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.name}")
    return 0


def create_token(args: argparse.Namespace) -> int:
    from functions.accounts import AccountError

    try:
        token = _accounts(args).create_token(args.name, args.label)
    except AccountError as error:
        print(f"fiddle admin: {error}", file=sys.stderr)
        return 1
    print(token)
    return 0


def set_password(args: argparse.Namespace) -> int:
    from functions.accounts import AccountError, Accounts
    from functions.audit import AuditLog

    password = sys.stdin.readline().rstrip("\n")
    documents = _documents(args)
    try:
        ended = Accounts(documents).set_password(args.name, password)
    except AccountError as error:
        print(f"fiddle admin: {error}", file=sys.stderr)
        return 1
    AuditLog(documents).record(COMMAND_LINE, "set_password", args.name, sessions_ended=ended)
    print(f"set the password of {args.name} ({ended} sessions ended)")
    return 0


def remove_user(args: argparse.Namespace) -> int:
    from functions.accounts import AccountError, Accounts
    from functions.audit import AuditLog

    documents = _documents(args)
    try:
        sessions, tokens = Accounts(documents).remove_user(args.name)
    except AccountError as error:
        print(f"fiddle admin: {error}", file=sys.stderr)
        return 1
    AuditLog(documents).record(
        COMMAND_LINE, "remove_user", args.name, sessions_ended=sessions, tokens_revoked=tokens
    )
    print(f"removed {args.name} ({sessions} sessions ended, {tokens} API tokens revoked)")
    return 0


def backfill_aliases(args: argparse.Namespace) -> int:
    """Fiddles stored before aliases existed are reachable by their Skia-form hash only once
    this has run (or once each is run again); it reads every stored fiddle's code."""
    from functions.config import Settings
    from functions.fiddles import FiddleRepository
    from functions.storage.factory import make_blob_store

    store = make_blob_store(Settings.from_env(data_dir=args.data_dir))
    counts = FiddleRepository(store).backfill_aliases()
    print(
        f"aliases: {counts['written']} written, {counts['present']} already there, "
        f"{counts['skipped']} fiddles skipped (stored code and options that do not give "
        "their own hash)"
    )
    return 0


def build_site(args: argparse.Namespace) -> int:
    from functions.config import Settings
    from functions.sitebuild import SiteBuildError
    from functions.sitebuild import build_site as write_site

    api_base = Settings.from_env(api_base=args.api_base).api_base
    try:
        written = write_site(args.out, api_base)
    except SiteBuildError as error:
        print(f"fiddle build-site: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files to {args.out} (API at {api_base or 'the same origin'})")
    return 0


def _cpu_choice(value: str) -> str:
    from functions.serving_cpu import parse_choice

    try:
        return parse_choice(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _pinned(choice: str) -> str:
    from functions.serving_cpu import pin_this_thread

    try:
        return pin_this_thread(choice)
    except ValueError as error:
        raise SystemExit(f"fiddle serve: {error}") from None


def serve(args: argparse.Namespace) -> int:
    from waitress import serve as waitress_serve

    from functions.app import create_app
    from functions.config import Settings

    settings = Settings.from_env(data_dir=args.data_dir)
    if not settings.runners:
        require_runner_extra("serve", " (or set FIDDLE_RUNNERS to runners elsewhere)")
    # The local runner trusts only requests signed with a secret made for this run of serve.
    secret = settings.runner_secret or secrets.token_hex(32)
    builds = args.builds_dir or settings.builds_dir or settings.data_dir / "builds"
    with _local_runner(settings, args.sandbox, secret, builds) as runners:
        settings = Settings.from_env(data_dir=args.data_dir, runners=runners, runner_secret=secret)
        app = create_app(settings)
        if args.examples:
            _store_examples_in_background(app)
        worker = _start_worker(app) if settings.serve_worker else None
        print(f"fiddle: serving on http://{args.host}:{args.port}/ (data in {settings.data_dir})",
              file=sys.stderr, flush=True)  # fmt: skip
        print(f"fiddle: {_pinned(args.cpu)}", file=sys.stderr, flush=True)
        # Under load waitress logs every time requests wait for a thread ("Task queue depth"):
        # a line per request at worst, written under the logging lock by every thread.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        # Waitress drops X-Forwarded-For unless told otherwise; behind FIDDLE_TRUSTED_PROXIES
        # proxies the app reads it (ProxyFix, only their entries), or every client would be
        # the proxy's address to the rate limits and quotas.
        try:
            waitress_serve(
                app, host=args.host, port=args.port, threads=args.threads, _quiet=True,
                clear_untrusted_proxy_headers=not settings.trusted_proxies,
            )  # fmt: skip
        finally:
            if worker is not None:
                worker.stop()
    return 0


def _start_worker(app: Any) -> Any:
    """The job worker as a thread of serve (FIDDLE_SERVE_WORKER=off: none; run `fiddle worker`)."""
    import threading

    from functions.services import services

    worker = services(app).worker
    threading.Thread(target=worker.run_forever, name="job-worker", daemon=True).start()
    return worker


def _store_examples_in_background(app: Any) -> None:
    """The editor's examples become stored fiddles (so their /c/<hash> links work), without
    holding up the start: a run of an example that is already stored costs one read."""
    import threading

    from functions.examples import load_examples, store_examples
    from functions.services import services

    def store() -> None:
        failed = store_examples(services(app).runs, load_examples())
        logging.getLogger("fiddle").info("examples stored (%d failed)", failed)

    threading.Thread(target=store, name="store-examples", daemon=True).start()


@contextlib.contextmanager
def _local_runner(
    settings: Any, sandbox: str, secret: str, builds: Path
) -> Iterator[tuple[str, ...]]:
    """Use FIDDLE_RUNNERS when set; otherwise start one runner beside the functions, with the
    Skia builds in `builds` (none there: it renders with its own skia-python, and says so),
    started again whenever it exits (functions/local_runner.py)."""
    from functions.devserver import DidNotStart, free_port, runner_command
    from functions.local_runner import LocalRunner

    if settings.runners:
        yield settings.runners
        return
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
    env = {**os.environ, "FIDDLE_RUNNER_SECRET": secret}
    port = free_port()
    command = runner_command(port, sandbox, builds_dir=builds)
    runner = LocalRunner(command, env, f"http://127.0.0.1:{port}")
    try:
        try:
            runner.start()
        except DidNotStart as error:
            raise SystemExit(f"fiddle: the runner did not start: {error}") from error
        yield (runner.url,)
    finally:
        runner.stop()


def run_file(args: argparse.Namespace) -> int:
    try:
        code = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"fiddle run: cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    options = FiddleOptions(width=args.width, height=args.height, source=args.source)
    sent: dict[str, Any] = {
        "code": code,
        "options": {"width": options.width, "height": options.height, "source": options.source},
    }
    if args.version:
        sent["version"] = args.version
    if args.all_versions:
        sent["versions"] = "all"
    server = args.server.rstrip("/")
    try:
        response = requests.post(f"{server}/_/run", json=sent, timeout=120)
        answer = response.json()
    except (requests.RequestException, ValueError) as error:
        print(f"fiddle run: the server at {server} did not answer: {error}", file=sys.stderr)
        return 2
    if response.status_code == 200 and "runs" in answer:
        return _report_several(server, answer, options)
    return _report(server, response.status_code, answer, options, pinned=bool(args.version))


def _report(
    server: str, status: int, answer: dict[str, Any], options: FiddleOptions, pinned: bool
) -> int:
    """The run's URLs: of the newest run (/i/), or at a --version the run at that build (/ai/)."""
    if status != 200:
        print(f"fiddle run: {answer.get('error', f'HTTP {status}')}", file=sys.stderr)
        for field, reasons in answer.get("fields", {}).items():
            print(f"  {field}: {'; '.join(reasons)}", file=sys.stderr)
        return 1
    _print_errors(answer)
    digest = answer["fiddleHash"]
    print(f"hash:   {digest}")
    print(f"page:   {server}/c/{digest}")
    if answer["compile_errors"] or answer["runtime_error"]:
        return 1
    print(f"build:  {answer['runid']} (skia-python {answer['version']})")
    where = f"ai/{answer['runid']}" if pinned else "i"
    for name, error in answer.get("output_errors", {}).items():  # the run succeeded without it
        print(
            f"{name}: not rendered: the program raised an error in its {name} pass", file=sys.stderr
        )
        print(error, file=sys.stderr)
    # The outputs the run stored, as the service lists them (it knows the runner's GPU).
    for output in answer.get("outputList", []):
        print(f"{output['name'] + ':':<15}{server}/{where}/{digest}{output['suffix']}")
    if answer["text"]:
        print(answer["text"], end="" if answer["text"].endswith("\n") else "\n")
    return 0


def _print_errors(answer: dict[str, Any]) -> None:
    for error in answer.get("compile_errors", []):
        print(error["text"], file=sys.stderr)  # compiler style: draw.py:LINE:COL: error: ...
    if answer.get("runtime_error"):
        print(answer["runtime_error"], file=sys.stderr)


def _report_several(server: str, answer: dict[str, Any], options: FiddleOptions) -> int:
    """One block per build, newest first; exit 1 if the fiddle failed at any of them."""
    digest = answer["fiddleHash"]
    print(f"hash:   {digest}")
    print(f"page:   {server}/c/{digest}")
    failed = 0
    for run in answer["runs"]:
        head = ", HEAD" if run["head"] else ""
        print(f"\nm{run['milestone']} (skia-python {run['version']}{head}): {run['runid']}")
        if run.get("error") or run.get("compile_errors") or run.get("runtime_error"):
            failed += 1
            print(f"fiddle run: at {run['runid']}: {run['error']}" if run.get("error") else "",
                  file=sys.stderr, end="\n" if run.get("error") else "")  # fmt: skip
            _print_errors(run)
            print("  failed (the errors are above, on stderr)")
            continue
        at = f"{server}/ai/{run['runid']}/{digest}"
        for output in run["outputList"]:
            print(f"  {output['name'] + ':':<15}{at}{output['suffix']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
