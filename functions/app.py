"""The Flask application factory of the functions: storage, runner client, routes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from functions.config import Settings
from functions.fiddles import FiddleRepository
from functions.runner_client import HttpRunnerClient, RunnerClient
from functions.running import FiddleRunner
from functions.storage.blobstore import BlobStore
from functions.storage.factory import make_blob_store

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# Paths whose errors are answered as JSON rather than as an HTML page.
JSON_PREFIXES = ("/_/", "/e/", "/healthz", "/metrics")


def create_app(
    settings: Settings | None = None,
    *,
    blob_store: BlobStore | None = None,
    runner: RunnerClient | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        "functions", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "site"),
        static_url_path="/static",
    )  # fmt: skip
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 16 << 20
    store = blob_store or make_blob_store(settings)
    fiddles = FiddleRepository(store)
    runner = runner or HttpRunnerClient(settings.runners, settings.runner_timeout)
    app.extensions["fiddles"] = fiddles
    app.extensions["fiddle_runner"] = FiddleRunner(fiddles, runner)
    app.extensions["runner_client"] = runner
    _register(app)
    return app


def _register(app: Flask) -> None:
    from functions import metrics
    from functions.routes import api, media, pages

    metrics.install(app)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(media.blueprint)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _security_headers(response: Any) -> Any:
    # Only the iframe view may be framed by other sites (SPEC section 4).
    if not request.path.startswith("/iframe/"):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'self'; frame-ancestors 'none'",
        )
    else:
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _http_error(error: HTTPException) -> Any:
    from flask import render_template

    message = _plain_message(error)
    if wants_json():
        response = jsonify(error=message)
    else:
        response = app_response(render_template("error.html", status=error.code, message=message))
    response.status_code = error.code or 500
    return response


def _plain_message(error: HTTPException) -> str:
    messages = {
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
        413: "The request is too large.",
    }
    return messages.get(error.code or 0, error.description or "The request failed.")


def _unexpected_error(error: Exception) -> Any:
    log.exception("unexpected error on %s", request.path)
    response = jsonify(error="The service failed to answer; please try again.")
    response.status_code = 500
    return response


def app_response(body: str) -> Any:
    from flask import make_response

    return make_response(body)
