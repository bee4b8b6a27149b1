"""Cloud Functions (gen2) targets, one per endpoint group, for functions-framework:

    functions-framework --source=functions/main.py --target=run

Each target serves the paths its blueprints declare (functions/routing.py) through the same app
and templates as `fiddle serve`, and answers 404 for any other; the load balancer's URL map
(infra/terraform) sends each path to its target. The app is built on the first request, never
at import: a cold start that only imports this module stays cheap. What can be checked without
building it is checked when functions-framework loads the module (it names it `main`; the
deploy's root main.py calls `check_configuration` itself): a function that could only answer
500 (no FIDDLE_RUNNERS, a malformed setting) stops at start with one sentence instead.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from flask import Flask, Request

# Deployed as a source tree, the repository root (holding functions/, fiddle_protocol/ and
# runner_vm/) must be importable; installed as a package it already is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@functools.cache
def _app() -> Flask:
    from functions.app import create_app

    return create_app()


NO_RUNNERS = (
    "fiddle functions: FIDDLE_RUNNERS is not set, so no fiddle could run; set it to the "
    "runners' addresses (comma-separated URLs, e.g. http://10.0.0.5:8081) and start again."
)


def check_configuration(env: dict[str, str] | None = None) -> None:
    """SystemExit with one sentence when the functions' settings cannot work."""
    from functions.config import Settings

    try:
        settings = Settings.from_env(env)
    except ValueError as error:
        raise SystemExit(f"fiddle functions: {error}") from None
    if not settings.runners:
        raise SystemExit(NO_RUNNERS)


def target_for(path: str) -> str:
    """The target the blueprints declare for path (functions/routing.py); `pages` for any path
    no blueprint declares, as the URL map sends those to the site or its catch-alls."""
    from functions.routes import blueprints
    from functions.routing import policy_for_path

    return policy_for_path(path, (blueprint.policy for blueprint in blueprints())).target


def _serve(target: str, request: Request) -> Any:
    app = _app()
    with app.request_context(request.environ):
        if target_for(request.path) != target:
            return app.make_response(
                ({"error": "There is nothing at this address.", "fields": {}}, 404)
            )
        return app.full_dispatch_request()


def run(request: Request) -> Any:
    return _serve("run", request)


def name(request: Request) -> Any:
    return _serve("name", request)


def upload(request: Request) -> Any:
    return _serve("upload", request)


def pages(request: Request) -> Any:
    return _serve("pages", request)


def admin(request: Request) -> Any:
    return _serve("admin", request)


if __name__ == "main":  # loaded by functions-framework as its --source
    check_configuration()


# How long one scheduled call works on jobs: well within the function's timeout, so that it
# gives an unfinished job back (for the next call) rather than being killed holding it.
JOB_TICK_SECONDS = 240.0


def jobs(request: Request) -> Any:
    """The job worker as a scheduled function: Cloud Scheduler calls it every few minutes (with
    its own service account: no route leads here), and it works on jobs for JOB_TICK_SECONDS."""
    from functions.services import services

    services(_app()).worker.run_for(JOB_TICK_SECONDS)
    return {"status": "ok"}
