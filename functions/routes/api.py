"""The JSON API: POST /_/run, /healthz, and every other /_/ address."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from functions.clients import client_keys
from functions.inputs import json_body
from functions.ratelimits import limit
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.runner_client import RunnerUnavailable
from functions.services import services

blueprint = FiddleBlueprint(
    "api",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="run",
        paths=("/_/run",),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
    ),
)
health_blueprint = FiddleBlueprint(
    "health",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/healthz",),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)
# No routes: every /_/ address no other blueprint declares is answered by the pages target
# (the URL map's catch-all for them) with a JSON 404.
unknown_api_blueprint = FiddleBlueprint(
    "unknown_api",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/_/*",),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)


@blueprint.post("/_/run")
@limit("run")
def run() -> Any:
    """Run a fiddle, or answer it from storage (see "The run request"); rate-limited per client
    (FIDDLE_RATE_LIMIT_RUN) and held to its quotas (429 or 413 with a sentence)."""
    # Any content type: Skia Fiddle's own client does not always say application/json.
    answer = services().runs.run(json_body(), client_keys())
    return jsonify(answer.to_json())


@health_blueprint.get("/healthz")
def healthz() -> Any:
    """Liveness: `{"status": "ok", "runner": RunnerInfo, "sandbox"}` while a runner answers,
    else 503 with `{"status": "degraded", "runner": null}`."""
    try:
        runner = services().runner.describe()
    except RunnerUnavailable:
        return jsonify(status="degraded", runner=None), 503
    return jsonify(status="ok", runner=runner.to_json(), sandbox=runner.sandbox)
