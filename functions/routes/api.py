"""The JSON API: POST /_/run, GET /_/builds, /healthz, and every other /_/ address."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from functions import errors
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
# The Skia builds a fiddle can run at (any origin may ask, as for /_/run).
builds_blueprint = FiddleBlueprint(
    "builds",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/_/builds",),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
    ),
)
PUBLIC_BUILD_FIELDS = ("runid", "skia_python", "milestone", "released", "head")
NO_BUILDS = "No runner is available to say which Skia builds there are; try again shortly."
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
    # Any content type: Skia Fiddle's own client does not always say application/json.
    answer = services().runs.run(json_body(), client_keys())
    return jsonify(answer.to_json())


@builds_blueprint.get("/_/builds")
def builds() -> Any:
    """Every build, newest first: `{"head": runid, "builds": [{"runid", "skia_python",
    "milestone", "released", "head"}]}`; `version` in /_/run takes HEAD, `m<milestone>`,
    a skia_python version or a runid."""
    try:
        found = services().runner.builds()
    except RunnerUnavailable as down:
        raise errors.Unavailable(NO_BUILDS, retry_after=down.retry_after) from down
    listed = [{key: build.to_json()[key] for key in PUBLIC_BUILD_FIELDS} for build in found]
    return jsonify(head=found[0].runid if found else None, builds=listed)


@health_blueprint.get("/healthz")
def healthz() -> Any:
    try:
        runner = services().runner.describe()
    except RunnerUnavailable:
        return jsonify(status="degraded", runner=None), 503
    return jsonify(status="ok", runner=runner.to_json(), sandbox=runner.sandbox)
