"""The Flask application factory of the functions: storage, runner client, routes."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from fiddle_protocol.signing import make_signer
from functions import http_errors
from functions.accounts import Accounts
from functions.audit import AuditLog
from functions.bundles import warn_if_missing
from functions.comparisons import Comparisons
from functions.config import Settings
from functions.docstore.base import DocumentStore
from functions.docstore.factory import make_document_store
from functions.fiddles import FiddleRepository
from functions.headers import add_headers
from functions.identity import BearerTokenIdentity, SessionIdentity
from functions.jobs.kinds import JobKinds
from functions.jobs.named_status import NamedStatuses
from functions.jobs.service import BuildWatch, Jobs
from functions.jobs.store import JobStore
from functions.jobs.worker import Worker, WorkerSettings
from functions.links import relative_redirects, warn_without_public_url
from functions.metrics import HttpMetrics
from functions.named import NamedFiddles
from functions.quotas import ClientLimits, FairShare, StorageQuota
from functions.ratelimits import RateLimits
from functions.responsecache import ResponseCache
from functions.runner_client import BackgroundRunner, HttpRunnerClient, RunnerClient
from functions.runs import RunDispatcher
from functions.services import Services, install, services
from functions.sessions import CachedSerializerSessions
from functions.source_runs import SourceRuns
from functions.sources import SourceImages
from functions.storage.blobstore import BlobStore
from functions.storage.factory import make_blob_store

ROOT = Path(__file__).resolve().parent.parent
# The answers replayed from memory (functions/responsecache.py): in all, and the largest one.
RESPONSE_CACHE_BYTES = 32 << 20
LARGEST_REPLAYED = 1 << 20


def create_app(
    settings: Settings | None = None,
    *,
    blob_store: BlobStore | None = None,
    documents: DocumentStore | None = None,
    runner: RunnerClient | None = None,
    site: Path = ROOT / "site",
) -> Flask:
    """The app; storage, runner client and the static site's directory (served under /static/)
    may be given instead of the ones the settings name."""
    settings = settings or Settings.from_env()
    warn_without_public_url(settings)
    app = Flask(
        "functions",
        template_folder=str(ROOT / "templates"),
        static_folder=str(site),
        static_url_path="/static",
    )
    app.config["MAX_CONTENT_LENGTH"] = 16 << 20
    warn_if_missing(site)
    app.config.update(_session_config(settings))
    app.session_interface = CachedSerializerSessions()
    store = blob_store or make_blob_store(settings)
    documents = documents or make_document_store(
        settings.doc_store, settings.data_dir, settings.project
    )
    runner = runner or HttpRunnerClient(
        settings.runners,
        settings.runner_timeout,
        make_signer(settings.runner_secret, settings.runner_audience),
    )
    built = build_services(settings, store, documents, runner)
    # Before the first request: Skia's clients expect source images 1 to 6 on any service.
    built.sources.seed_builtins()
    install(app, built)
    _trust_proxies(app, settings.trusted_proxies)
    _register(app)
    # Outermost: a replayed answer skips everything inside (functions/responsecache.py).
    app.wsgi_app = built.responses.wrap(app.wsgi_app)  # type: ignore[method-assign,assignment]
    return app


def build_services(
    settings: Settings, store: BlobStore, documents: DocumentStore, runner: RunnerClient
) -> Services:
    metrics = HttpMetrics()
    responses = ResponseCache(RESPONSE_CACHE_BYTES, LARGEST_REPLAYED, metrics.record)
    fiddles = FiddleRepository(store, on_change=responses.purge)
    accounts = Accounts(documents)
    source_runs = SourceRuns(fiddles, documents)
    limits = ClientLimits(
        StorageQuota(settings.quota_bytes_per_hour),
        FairShare(settings.runs_in_flight_per_client),
        settings.max_run_bytes,
    )
    named = NamedFiddles(store, documents, fiddles)
    statuses = NamedStatuses(documents)
    runs = RunDispatcher(fiddles, runner, source_runs, limits, settings.fiddle_hash)
    jobs, worker = _jobs(settings, documents, fiddles, named, statuses, runs)
    return Services(
        settings=settings,
        blobs=store,
        documents=documents,
        fiddles=fiddles,
        source_runs=source_runs,
        sources=SourceImages(store, documents, source_runs, runner, limits, responses.purge),
        named=named,
        accounts=accounts,
        audit=AuditLog(documents),
        runs=runs,
        comparisons=Comparisons(fiddles, runner, limits),
        runner=runner,
        limits=limits,
        rate_limits=RateLimits(settings.rate_limits, documents),
        identity_providers=(BearerTokenIdentity(accounts), SessionIdentity(accounts)),
        metrics=metrics,
        responses=responses,
        jobs=jobs,
        worker=worker,
        named_status=statuses,
    )


def _jobs(
    settings: Settings,
    documents: DocumentStore,
    fiddles: FiddleRepository,
    named: NamedFiddles,
    statuses: NamedStatuses,
    runs: RunDispatcher,
) -> tuple[Jobs, Worker]:
    """Jobs and their worker: the same dispatch as /_/run, but every run a background run."""
    background = BackgroundRunner(runs.runner)
    background_runs = RunDispatcher(
        fiddles, background, runs.source_runs, runs.limits, runs.hash_form
    )
    comparisons = Comparisons(fiddles, background, runs.limits)
    kinds = JobKinds(background_runs, fiddles, named, statuses, comparisons, runs.source_runs)
    store = JobStore(documents)
    worker_settings = WorkerSettings(
        settings.job_lease_seconds, settings.job_runs_in_flight, settings.job_poll_seconds
    )
    worker = Worker(store, kinds, worker_settings)
    jobs = Jobs(store, kinds, wake=worker.wake)
    worker.on_idle = BuildWatch(jobs, runs.runner, documents)
    return jobs, worker


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` proxies (Google's load balancer), the client's address is the one the
    nearest of them saw: the rate limits and quotas key on it, not on the balancer's address.
    Only X-Forwarded-For is read, and only as many entries as there are proxies: whatever a
    client writes there itself stays to the left of them."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0)  # type: ignore[method-assign]


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
    from functions.routes import blueprints

    metrics.install(app)
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    app.context_processor(_template_globals)
    app.add_template_filter(_utc, "utc")
    app.after_request(_finish)
    http_errors.install(app)


def _finish(response: Any) -> Any:
    """Every answer's last steps, in one hook (each hook costs Flask a few microseconds)."""
    from functions import metrics

    built = services()
    response = add_headers(relative_redirects(response), built.settings.api_base)
    return metrics.record(response, built.metrics)


def _template_globals() -> dict[str, Any]:
    from functions.guards import current_user
    from functions.identity import csrf_token

    return {"current_user": current_user(), "csrf_token": csrf_token}


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
