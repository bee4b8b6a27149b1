"""The services one app runs on, built once by the factory (functions/app.py) and reached by
routes and request helpers through `services()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from functions.accounts import Accounts
    from functions.audit import AuditLog
    from functions.comparisons import Comparisons
    from functions.config import Settings
    from functions.docstore.base import DocumentStore
    from functions.fiddles import FiddleRepository
    from functions.identity import IdentityProvider
    from functions.jobs.named_status import NamedStatuses
    from functions.jobs.service import Jobs
    from functions.jobs.worker import Worker
    from functions.metrics import HttpMetrics
    from functions.named import NamedFiddles
    from functions.quotas import ClientLimits
    from functions.ratelimits import RateLimits
    from functions.responsecache import ResponseCache
    from functions.runner_client import RunnerClient
    from functions.runs import RunDispatcher
    from functions.source_runs import SourceRuns
    from functions.sources import SourceImages
    from functions.storage.blobstore import BlobStore

_EXTENSION = "fiddle"


@dataclass(frozen=True)
class Services:
    settings: Settings
    blobs: BlobStore
    documents: DocumentStore
    fiddles: FiddleRepository
    source_runs: SourceRuns
    sources: SourceImages
    named: NamedFiddles
    accounts: Accounts
    audit: AuditLog
    runs: RunDispatcher
    comparisons: Comparisons
    runner: RunnerClient
    limits: ClientLimits
    rate_limits: RateLimits
    identity_providers: tuple[IdentityProvider, ...]
    metrics: HttpMetrics
    responses: ResponseCache
    jobs: Jobs
    worker: Worker
    named_status: NamedStatuses


def install(app: Flask, built: Services) -> None:
    app.extensions[_EXTENSION] = built


def services(app: Flask | None = None) -> Services:
    """The services of app, or of the app handling the current request."""
    found: Services = (app or current_app).extensions[_EXTENSION]
    return found
