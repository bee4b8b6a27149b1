"""The runner's HTTP face: POST /run with a protocol request, plus health, version and metrics."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest

from runner_vm.auth import LoopbackOnly, Verifier
from runner_vm.events import JsonLogHook, MetricsHook
from runner_vm.pool import HostDied, PoolBusy
from runner_vm.protocol import ProtocolError, RunRequest
from runner_vm.service import Runner

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2


def create_runner_app(runner: Runner, verifier: Verifier | None = None) -> Flask:
    app = Flask("fiddle-runner")
    registry = CollectorRegistry()
    runner.events.subscribe(MetricsHook(registry))
    runner.events.subscribe(JsonLogHook())

    verifier = verifier or LoopbackOnly()

    @app.post("/run")
    def run() -> Any:
        headers = dict(request.headers)
        if not verifier.verify(headers, request.get_data(), request.remote_addr or ""):
            return jsonify(error="This runner only takes runs from its own functions."), 401
        try:
            run_request = RunRequest.from_json(request.get_json(silent=True))
        except ProtocolError as error:
            return jsonify(error=f"Bad protocol message: {error}."), 400
        try:
            result = runner.run(run_request)
        except PoolBusy as busy:
            return _unavailable("Every sandbox is busy; try again shortly.", 429, busy.retry_after)
        except HostDied:
            return _unavailable("The sandbox died during the run; try again.", 503)
        return jsonify(result.to_json())

    @app.get("/version")
    def version() -> Any:
        return jsonify(runner.describe())

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok", **runner.describe())

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    return app


def _unavailable(message: str, status: int, retry_after: int = RETRY_AFTER_SECONDS) -> Any:
    response = jsonify(error=message)
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response
