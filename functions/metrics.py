"""Prometheus metrics of the functions, served on /metrics."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


def install(app: Flask) -> None:
    registry = CollectorRegistry()
    requests_total = Counter(
        "fiddle_http_requests", "HTTP requests", ["route", "status"], registry=registry
    )
    latency = Histogram(
        "fiddle_http_request_seconds", "HTTP request latency", ["route"], registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
    )  # fmt: skip

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Any) -> Any:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
