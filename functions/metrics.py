"""Prometheus metrics of the functions, served on /metrics."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from functions.apidoc import Answer, documented
from functions.jobs.named_status import BROKEN
from functions.responsecache import ROUTE_KEY
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
        # The labelled children, found once: labels() checks and locks on every call.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def record(self, route: str, status: int, seconds: float) -> None:
        children = self._children.get((route, status))
        if children is None:
            children = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


# Where the WSGI environ keeps the moment the request reached the app.
_STARTED = "fiddle.started"


def install(app: Flask) -> None:
    """Time every request of app from the moment the WSGI server hands it over (a wrapper
    around the WSGI app costs less than a before_request hook); `record` counts it."""
    inner = app.wsgi_app

    def timed(environ: dict[str, Any], start_response: Any) -> Any:
        environ[_STARTED] = time.perf_counter()
        return inner(environ, start_response)

    app.wsgi_app = timed  # type: ignore[method-assign]


def record(response: Any, metrics: HttpMetrics) -> Any:
    """Count and time the answer (called once per request, after every other header is set)."""
    rule = request.url_rule
    route = rule.rule if rule else "unmatched"
    # For an answer the response cache keeps: its replays are counted under the same route.
    request.environ[ROUTE_KEY] = route
    started = request.environ.get(_STARTED)
    elapsed = time.perf_counter() - started if started is not None else 0.0
    metrics.record(route, response.status_code, elapsed)
    return response


@blueprint.get("/metrics")
@documented(
    "Prometheus metrics: requests by route and status, and their latency",
    Answer(200, "The metrics, in Prometheus' text format.", media_type="text/plain"),
)
def metrics() -> Response:
    """Prometheus metrics of this process: requests by route and status, and their latency;
    and how many named fiddles are broken (counted from the document store at each scrape)."""
    built = services()
    # Counted at each scrape from the statuses jobs recorded (shared by every instance).
    built.metrics.named_broken.set(built.named_status.count(BROKEN))
    registry = built.metrics.registry
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
