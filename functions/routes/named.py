"""POST /_/name and the list of named fiddles."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from fiddle_protocol import outputs as registry
from functions.api_schemas import NameAnswerSchema, NameRequestSchema
from functions.apidoc import Answer, Body, Link, Query, documented, page
from functions.errors import InvalidInput
from functions.guards import require_user
from functions.inputs import json_object, query_choice
from functions.jobs.named_status import STATUSES
from functions.ratelimits import limit
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

# The filter for names no rerun-named job has checked (for the fiddle they name now).
UNCHECKED = "unchecked"

blueprint = FiddleBlueprint(
    "named",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="name",
        paths=("/_/name",),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)
list_blueprint = FiddleBlueprint(
    "named_list",
    __name__,
    policy=RoutePolicy(
        kind=Kind.PAGE,
        target="pages",
        paths=("/named", "/named/*"),
        json_errors=False,
        cors=False,
        framing=Framing.DENY,
    ),
)


@blueprint.post("/_/name")
@documented(
    "Give a stored fiddle a name (/c/@name, /i/@name...)",
    Answer(
        200,
        "Named.",
        NameAnswerSchema,
        links=(
            Link("Page", "pages.fiddle_page", {"reference": "@{$response.body#/name}"}),
            Link(
                "Raster",
                "media.newest_output",
                {"filename": "@{$response.body#/name}" + registry.RASTER.suffix},
            ),
            Link("Delete", "admin_api.delete_named_json", {"name": "$response.body#/name"}),
        ),
    ),
    errors=(400, 401, 403, 404, 409, 413, 429),
    body=Body("application/json", NameRequestSchema),
    security="Signed-in users only; overwriting a name only its creator or an admin.",
)
@limit("name")
def name_fiddle() -> Any:
    """Name a fiddle, signed in: `{"name", "hash", "overwrite"?}` -> `{"name", "hash",
    "creator", "url"}`, and `@name` works wherever a hash does. A taken name is 409, unless
    `overwrite` is true and the caller made it or is an admin."""
    user = require_user()
    body = json_object(require_json_type=True)
    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise InvalidInput.about("overwrite", "overwrite must be true or false.")
    named = services().named.name(body.get("name"), body.get("hash"), user, overwrite=overwrite)  # type: ignore[arg-type]
    return jsonify(name=named.name, hash=named.hash, creator=named.creator, url=f"/c/@{named.name}")


@list_blueprint.get("/named/")
@documented(
    "Every named fiddle, with its status at the newest Skia build checked",
    page("The list."),
    errors=(400,),
    query=(
        Query("status", "Only the names of this status.",
              {"type": "string", "enum": [*STATUSES, "unchecked"]}),
    ),
)  # fmt: skip
def named_list() -> Any:
    """Every named fiddle with its status at the newest build checked; `?status=` keeps one."""
    wanted = query_choice("status", {status: status for status in (*STATUSES, UNCHECKED)})
    statuses = services().named_status.all()
    rows = []
    for named in sorted(services().named.all(), key=lambda n: n.name):
        status = statuses.get(named.name)
        if status is not None and status.hash != named.hash:
            status = None  # checked when the name led to another fiddle
        if wanted is None or wanted == (status.status if status else UNCHECKED):
            rows.append((named, status))
    return render_template("named.html", rows=rows, wanted=wanted, statuses=(*STATUSES, UNCHECKED))
