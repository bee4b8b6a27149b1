"""Prometheus metrics of the functions, served on /metrics."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from functions.jobs.named_status import BROKEN
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

# Scraped from inside the project: the load balancer does not route /metrics.
blueprint = FiddleBlueprint(
    "metrics",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/metrics",),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
        routed=False,
    ),
)


class HttpMetrics:
    """Requests per route and status, and their latency, in a registry of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fiddle_http_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fiddle_http_request_seconds", "HTTP request latency", ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
        )  # fmt: skip
        self.named_broken = Gauge(
            "fiddle_named_broken",
            "Named fiddles that ran cleanly at the previous Skia build and fail at the newest",
            registry=self.registry,
        )


def install(app: Flask) -> None:
    """Count and time every request of app."""

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Any) -> Any:
        metrics = services().metrics
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(route, str(response.status_code)).inc()
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.latency.labels(route).observe(elapsed)
        return response


@blueprint.get("/metrics")
def metrics() -> Response:
    built = services()
    # Counted at each scrape from the statuses jobs recorded (shared by every instance).
    built.metrics.named_broken.set(built.named_status.count(BROKEN))
    registry = built.metrics.registry
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
