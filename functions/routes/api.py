"""The JSON API: POST /_/run and /healthz."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from functions.clients import client_keys
from functions.inputs import json_body
from functions.ratelimits import limit
from functions.runner_client import RunnerUnavailable
from functions.schemas import InvalidRequest
from functions.source_runs import SourceWithdrawn

blueprint = Blueprint("api", __name__)


@blueprint.post("/_/run")
@limit("run")
def run() -> Any:
    # Any content type: Skia Fiddle's own client does not always say application/json.
    payload = json_body()
    try:
        answer = current_app.extensions["fiddle_runner"].run(payload, client_keys())
    except InvalidRequest as error:
        return _invalid(error)
    except SourceWithdrawn as error:
        return _withdrawn(error)
    except RunnerUnavailable as error:
        return _unavailable(error)
    return jsonify(answer.to_json())


def _invalid(error: InvalidRequest) -> Any:
    return jsonify(error.to_json()), 400


def _withdrawn(error: SourceWithdrawn) -> Any:
    return jsonify(error=error.message, fields={"options.source": [error.message]}), 409


def _unavailable(error: RunnerUnavailable) -> Any:
    busy = error.status == 429
    message = (
        "Every runner is busy; try again shortly."
        if busy
        else "No runner is available right now; try again shortly."
    )
    response = jsonify(error=message)
    response.status_code = error.status
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@blueprint.get("/healthz")
def healthz() -> Any:
    try:
        runner = current_app.extensions["runner_client"].describe()
    except RunnerUnavailable:
        return jsonify(status="degraded", runner=None), 503
    return jsonify(status="ok", runner=runner, sandbox=runner.get("sandbox"))
