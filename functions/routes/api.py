"""The JSON API: POST /_/run, GET /_/builds, /healthz, and every other /_/ address."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from fiddle_protocol import outputs as registry
from functions import errors
from functions.api_schemas import (
    BuildsSchema,
    HealthSchema,
    LegacyRunRequestSchema,
    RunAnswerSchema,
    SeveralRunsAnswerSchema,
)
from functions.apidoc import Answer, Body, Link, documented
from functions.clients import client_keys
from functions.inputs import json_body
from functions.ratelimits import limit
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.runner_client import RunnerUnavailable
from functions.schemas import RunRequestSchema
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
HASH = "$response.body#/fiddleHash"
HASH_PART = "{" + HASH + "}"  # the hash inside a longer string
PDF_SUFFIX = next(output.suffix for output in registry.DRAW_OUTPUTS if output.name == "pdf")
EXAMPLE_CODE = """def draw(canvas):
    canvas.drawCircle(128, 128, 60, skia.Paint(AntiAlias=True, Color=skia.ColorBLUE))
    print("a blue circle")
"""
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
@documented(
    "Run a fiddle (or answer it from storage)",
    Answer(
        200,
        "The run: its hash, runid, errors and printed text; with `versions`, one such run per "
        "build (newest first) under `runs`.",
        RunAnswerSchema,
        alternatives=(SeveralRunsAnswerSchema,),
        links=(
            Link("FiddleJson", "fiddle_json.fiddle_json", {"reference": HASH}),
            Link("Results", "fiddle_json.fiddle_results", {"reference": HASH}),
            Link("Page", "pages.fiddle_page", {"reference": HASH}),
            Link("Embed", "embed.iframe_page", {"reference": HASH}),
            Link(
                "Raster",
                "media.newest_output",
                {"filename": "{" + HASH + "}" + registry.RASTER.suffix},
            ),
            Link(
                "Text", "media.newest_output", {"filename": "{" + HASH + "}" + registry.TEXT.suffix}
            ),
            Link(
                "RunPdf",
                "media.run_output",
                {"runid": "$response.body#/runid", "filename": HASH_PART + PDF_SUFFIX},
            ),
            Link("Name", "named.name_fiddle", body={"name": "fuzzed", "hash": HASH}),
        ),
    ),
    errors=(400, 409, 413, 429, 503),
    body=Body(
        "application/json",
        RunRequestSchema,
        description="The code and its options; Skia Fiddle 1.0's form (width, height and "
        "source beside the code) is read too. Any content type is read as JSON.",
        alternatives=(LegacyRunRequestSchema,),
        example={"code": EXAMPLE_CODE, "options": {"width": 256, "height": 256}},
    ),
    description="The outputs are then at /i/<hash><suffix> and /ai/<runid>/<hash><suffix>. "
    "A run whose source image is deleted while it runs answers 409 and stores nothing.",
)
@limit("run")
def run() -> Any:
    """Run a fiddle, or answer it from storage (see "The run request"); rate-limited per client
    (FIDDLE_RATE_LIMIT_RUN) and held to its quotas (429 or 413 with a sentence)."""
    # Any content type: Skia Fiddle's own client does not always say application/json.
    answer = services().runs.run(json_body(), client_keys())
    return jsonify(answer.to_json())


@builds_blueprint.get("/_/builds")
@documented(
    "The Skia builds a fiddle can run at",
    Answer(200, "Every build, newest first, and which one is HEAD.", BuildsSchema),
    errors=(503,),
)
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
@documented(
    "Whether the service can run fiddles",
    Answer(200, "A runner answers: its build and sandbox.", HealthSchema),
    Answer(503, "No runner answers.", HealthSchema),
)
def healthz() -> Any:
    """Liveness: `{"status": "ok", "runner": RunnerInfo, "sandbox"}` while a runner answers,
    else 503 with `{"status": "degraded", "runner": null}`."""
    try:
        runner = services().runner.describe()
    except RunnerUnavailable:
        return jsonify(status="degraded", runner=None), 503
    return jsonify(status="ok", runner=runner.to_json(), sandbox=runner.sandbox)
