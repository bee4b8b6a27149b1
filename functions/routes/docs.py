"""The HTTP API's own description: /openapi.json (OpenAPI 3.1, generated from the routes and
their schemas by functions/openapi.py) and /api, the same document as a page to read."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, render_template

from functions.apidoc import Answer, documented, page
from functions.openapi import document
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy

# The document is anonymous and read-only, like the rest of the API: any origin may read it.
blueprint = FiddleBlueprint(
    "openapi",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/openapi.json",),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
    ),
)
page_blueprint = FiddleBlueprint(
    "api_page",
    __name__,
    policy=RoutePolicy(
        kind=Kind.PAGE,
        target="pages",
        paths=("/api",),
        json_errors=False,
        cors=False,
        framing=Framing.DENY,
    ),
)
METHOD_ORDER = ("get", "post", "put", "delete")


@blueprint.get("/openapi.json")
@documented(
    "This document: the HTTP API as OpenAPI 3.1",
    Answer(200, "The OpenAPI document.", media_type="application/json"),
)
def openapi_json() -> Any:
    """The HTTP API as an OpenAPI 3.1 document, generated from the routes and their schemas (any
    origin may read it)."""
    return jsonify(document(current_app))


@page_blueprint.get("/api")
@documented("The HTTP API as a page to read", page("Every operation, and the schemas."))
def api_page() -> Any:
    """The OpenAPI document as a page to read: every operation with its parameters, answers and
    schemas."""
    spec = document(current_app)
    return render_template("api.html", spec=spec, operations=list(_operations(spec)))


def _operations(spec: dict[str, Any]) -> Any:
    """(path, method, operation) in path order, methods in a fixed order."""
    for path, item in spec["paths"].items():
        for method in METHOD_ORDER:
            if method in item:
                yield path, method, item[method]
