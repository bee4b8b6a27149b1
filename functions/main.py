"""Cloud Functions (gen2) targets, one per endpoint group, for functions-framework:

    functions-framework --source=functions/main.py --target=run

Each target serves its own paths through the same app and templates as `fiddle serve`; the
load balancer's URL map sends each path to its target (infra/terraform). The app is built on the
first request, never at import: a cold start that only imports this module stays cheap.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from flask import Flask, Request

# Deployed as a source tree, the repository root (holding functions/ and runner_vm/) must be
# importable; installed as a package it already is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GROUPS: dict[str, tuple[str, ...]] = {
    "run": ("/_/run",),
    "name": ("/_/name",),
    "upload": ("/_/upload",),
    "admin": ("/admin", "/_/source/", "/_/named/"),
    "pages": ("/c/", "/iframe/", "/e/", "/i/", "/ai/", "/s/", "/named/", "/oembed", "/signin",
              "/signout", "/healthz", "/metrics", "/static/", "/"),
}  # fmt: skip


@functools.cache
def _app() -> Flask:
    from functions.app import create_app

    return create_app()


def _matches(path: str, prefix: str) -> bool:
    """A prefix ending in "/" covers everything below it; any other is a whole path segment,
    so "/_/name" does not claim "/_/named/x"."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def _belongs(group: str, path: str) -> bool:
    if group == "pages":
        # Everything not claimed by another group.
        others = [p for name, ps in GROUPS.items() if name != "pages" for p in ps]
        return not any(_matches(path, prefix) for prefix in others)
    return any(_matches(path, prefix) for prefix in GROUPS[group])


def _serve(group: str, request: Request) -> Any:
    app = _app()
    with app.request_context(request.environ):
        if not _belongs(group, request.path):
            return app.make_response(({"error": "There is nothing at this address."}, 404))
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
