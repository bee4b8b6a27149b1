"""The runner service's HTTP face: POST /run with a RunRequest (fiddle_protocol/messages.py), plus
health, version and metrics. A run's answer is the RunResult's bytes as its sandbox host wrote
them, sent on unread; a run at a build the runner does not have is a 404 naming those it has."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest

from fiddle_protocol.messages import ProtocolError, RunRequest
from fiddle_protocol.signing import LoopbackOnly, Verifier
from runner_vm.service.events import JsonLogHook, MetricsHook
from runner_vm.service.pool import HostDied, PoolBusy
from runner_vm.service.runner import RunnerService
from runner_vm.service.warm import UnknownBuild

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2


def create_runner_app(runner: RunnerService, verifier: Verifier | None = None) -> Flask:
    app = Flask("fiddle-runner")
    registry = CollectorRegistry()
    runner.events.subscribe(MetricsHook(registry))
    runner.events.subscribe(JsonLogHook())

    verifier = verifier or LoopbackOnly()

    @app.post("/run")
    def run() -> Any:
        """Run one RunRequest, signed by the functions: its RunResult, as the sandbox host wrote
        it. 400 for a body that is not a message of this protocol, 401 unsigned, 429 with
        Retry-After when every sandbox is busy, 503 when the sandbox died during the run."""
        body = request.get_data()
        if not verifier.verify(dict(request.headers), body, request.remote_addr or ""):
            return jsonify(error="This runner only takes runs from its own functions."), 401
        try:
            run_request = RunRequest.from_bytes(body)
        except ProtocolError as error:
            return jsonify(error=f"Bad protocol message: {error}."), 400
        try:
            result = runner.answer(run_request, body)
        except UnknownBuild as unknown:
            # The functions' view of the runner's builds is behind: they read /version again.
            return jsonify(error=str(unknown)), 404
        except PoolBusy as busy:
            return _unavailable("Every sandbox is busy; try again shortly.", 429, busy.retry_after)
        except HostDied:
            return _unavailable("The sandbox died during the run; try again.", 503)
        return Response(result, mimetype="application/json")

    @app.get("/version")
    def version() -> Any:
        """The runner's RunnerInfo: its protocol, Skia build, sandbox and how busy it is."""
        return jsonify(runner.describe().to_json())

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness: `{"status": "ok"}` with the RunnerInfo's fields."""
        return jsonify(status="ok", **runner.describe().to_json())

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics: runs by lifecycle event, runs stopped by each limit, run times."""
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    return app


def _unavailable(message: str, status: int, retry_after: int = RETRY_AFTER_SECONDS) -> Any:
    response = jsonify(error=message)
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response
