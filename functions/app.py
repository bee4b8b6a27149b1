"""The Flask application factory of the functions: storage, runner client, routes."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from functions.accounts import Accounts
from functions.audit import AuditLog
from functions.config import Settings
from functions.docstore.base import DocumentStore
from functions.docstore.factory import make_document_store
from functions.fiddles import FiddleRepository
from functions.headers import add_headers
from functions.identity import BearerTokenIdentity, SessionIdentity
from functions.inputs import BadInput
from functions.links import relative_redirects, warn_without_public_url
from functions.named import NamedFiddles
from functions.quotas import ClientLimits, FairShare, Refused, StorageQuota
from functions.ratelimits import RateLimits
from functions.runner_client import HttpRunnerClient, RunnerClient
from functions.running import FiddleRunner
from functions.source_runs import SourceRuns
from functions.sources import SourceImages
from functions.storage.blobstore import BlobStore
from functions.storage.factory import make_blob_store
from runner_vm.auth import make_signer

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# Paths whose errors are answered as JSON rather than as an HTML page.
JSON_PREFIXES = ("/_/", "/e/", "/healthz", "/metrics", "/oembed", "/s/")


def create_app(
    settings: Settings | None = None,
    *,
    blob_store: BlobStore | None = None,
    documents: DocumentStore | None = None,
    runner: RunnerClient | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    warn_without_public_url(settings)
    app = Flask(
        "functions",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "site"),
        static_url_path="/static",
    )
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 16 << 20
    app.config.update(_session_config(settings))
    store = blob_store or make_blob_store(settings)
    documents = documents or make_document_store(
        settings.doc_store, settings.data_dir, settings.project
    )
    runner = runner or HttpRunnerClient(
        settings.runners,
        settings.runner_timeout,
        make_signer(settings.runner_secret, settings.runner_audience),
    )
    _install_services(app, settings, store, documents, runner)
    _register(app)
    return app


def _install_services(
    app: Flask, settings: Settings, store: BlobStore, documents: DocumentStore, runner: RunnerClient
) -> None:
    fiddles = FiddleRepository(store)
    accounts = Accounts(documents)
    source_runs = SourceRuns(fiddles, documents)
    limits = ClientLimits(
        StorageQuota(settings.quota_bytes_per_hour),
        FairShare(settings.runs_in_flight_per_client),
        settings.max_run_bytes,
    )
    app.extensions.update(
        fiddles=fiddles,
        documents=documents,
        accounts=accounts,
        source_runs=source_runs,
        sources=SourceImages(store, documents, source_runs, runner, limits),
        named=NamedFiddles(store, documents, fiddles),
        audit=AuditLog(documents),
        fiddle_runner=FiddleRunner(fiddles, runner, source_runs, limits),
        runner_client=runner,
        rate_limits=RateLimits(settings.rate_limits, documents),
        identity_providers=[BearerTokenIdentity(accounts), SessionIdentity(accounts)],
    )


def _session_config(settings: Settings) -> dict[str, Any]:
    return {
        "SECRET_KEY": settings.secret_key or _stored_secret_key(settings.data_dir),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
    }


def _stored_secret_key(data_dir: Path) -> str:
    """A random key made once and kept beside the data, so sessions survive restarts."""
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def _register(app: Flask) -> None:
    from functions import metrics
    from functions.routes import accounts, admin, api, media, named, oembed, pages, sources

    metrics.install(app)
    for module in (api, pages, media, accounts, named, sources, admin, oembed):
        app.register_blueprint(module.blueprint)
    app.context_processor(_template_globals)
    app.add_template_filter(_utc, "utc")
    app.after_request(add_headers)
    app.after_request(relative_redirects)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(Exception, _unexpected_error)


def _template_globals() -> dict[str, Any]:
    from functions.guards import current_user
    from functions.identity import csrf_token

    return {"current_user": current_user(), "csrf_token": csrf_token}


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _http_error(error: HTTPException) -> Any:
    from flask import render_template

    message = _plain_message(error)
    if wants_json():
        response = jsonify(_json_error(error, message))
    else:
        response = app_response(render_template("error.html", status=error.code, message=message))
    response.status_code = error.code or 500
    return response


def _json_error(error: HTTPException, message: str) -> dict[str, Any]:
    """{"error"}; for malformed input (400) also "fields", as every 400 of the API has."""
    if error.code != 400:
        return {"error": message}
    fields = error.fields if isinstance(error, BadInput) else {"request": [message]}
    return {"error": message, "fields": fields}


def _plain_message(error: HTTPException) -> str:
    messages = {
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
        413: "The request is too large.",
    }
    return messages.get(error.code or 0, error.description or "The request failed.")


def _refused(error: Refused) -> Any:
    """A quota, cap or fair-share refusal: its sentence, and when to come back."""
    response = jsonify(error=error.message)
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _unexpected_error(error: Exception) -> Any:
    log.exception("unexpected error on %s", request.path)
    response = jsonify(error="The service failed to answer; please try again.")
    response.status_code = 500
    return response


def app_response(body: str) -> Any:
    from flask import make_response

    return make_response(body)
