"""The HTTP API as an OpenAPI 3.1 document, generated from the app itself: every rule of its URL
map, each view's `@documented` operation (functions/apidoc.py), the marshmallow schemas they
name (through apispec's marshmallow plugin) and each blueprint's route policy (whether errors
are JSON or HTML, whether any origin may read the answer).

Served at /openapi.json, and readable at /api (functions/routes/docs.py).
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule
from werkzeug.routing.converters import IntegerConverter, PathConverter

from functions import apidoc
from functions.api_schemas import ErrorSchema
from functions.routing import DEFAULT_POLICY, FiddleBlueprint, RoutePolicy
from functions.schemas import (
    OPTIONS_RULES_JSON_SCHEMA,
    CodeField,
    OptionsSchema,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
    VersionField,
)

TITLE = "Skia Fiddle for Python"
VERSION = "1"
# Methods every rule answers by itself (Werkzeug and Flask): not operations of their own.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_FIELD_TYPES = {
    StrictInteger: "integer",
    StrictBoolean: "boolean",
    StrictNumber: "number",
    CodeField: "string",
    StrictString: "string",
    VersionField: "string",
}
INTRODUCTION = (
    "Run skia-python drawing programs in a sandbox and share them at content-hash URLs. "
    'JSON errors are always `{"error": <one sentence>, "fields": {<field>: [<why>]}}`; '
    "429 and 503 answers say when to come back in Retry-After. Routes marked `cors` may be "
    "called from any origin, always without credentials. Signed-in calls use a session cookie "
    "(with a CSRF token) or an API token (`Authorization: Bearer`, from `fiddle admin "
    "create-token`)."
)


EMPTY_MEDIA_TYPE = "text/plain"
IMAGE_404 = (
    " For an image or a video (.png, .webm) the body is empty, unless Accept names "
    "application/json or text/html."
)


class UndocumentedRoute(Exception):
    """A route of the app has no `@documented` operation."""


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of app (built once per app, then kept)."""
    built: dict[str, Any] | None = app.extensions.get("fiddle_openapi")
    if built is None:
        built = build(app)
        app.extensions["fiddle_openapi"] = built
    return built


def build(app: Flask) -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(TITLE, VERSION, "3.1.0", plugins=[plugin], info={"description": INTRODUCTION})
    for field_class, kind in _FIELD_TYPES.items():
        plugin.map_to_openapi_type(field_class, kind, None)
    _security_schemes(spec)
    spec.components.schema("Error", schema=ErrorSchema)
    rules = {"allOf": OPTIONS_RULES_JSON_SCHEMA}
    spec.components.schema("Options", component=rules, schema=OptionsSchema)
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        spec.path(path=openapi_path(rule), operations=_operations(app, rule))
    return spec.to_dict()


def openapi_path(rule: Rule) -> str:
    """/ai/<runid>/<path:filename> -> /ai/{runid}/{filename}"""
    return _ARGUMENT.sub(lambda match: "{" + match.group(1) + "}", rule.rule)


def documented_methods(rule: Rule) -> set[str]:
    return set(rule.methods or ()) - IMPLICIT_METHODS


# Flask's own route, which no decorator of ours reaches.
STATIC = apidoc.Operation(
    "A file of the static site: the editor's bundles, styles, examples",
    (apidoc.Answer(200, "The file, of the type its name says.", media_type="*/*"),),
    errors=(404,),
    path={
        "filename": (
            "The file's path below site/.",
            {"type": "string", "minLength": 1, "examples": ["style.css", "dist/embed.js"]},
        )
    },
)


def _operations(app: Flask, rule: Rule) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    operation = STATIC if rule.endpoint == "static" else apidoc.operation_of(view)
    if operation is None:
        raise UndocumentedRoute(f"{rule.rule} ({rule.endpoint}) has no @documented operation")
    policy = _policy(app, rule.endpoint)
    return {
        method.lower(): _operation(rule, operation, policy, _store_errors(rule, method))
        for method in sorted(documented_methods(rule))
    }


def _store_errors(rule: Rule, method: str) -> tuple[int, ...]:
    """What a failing store answers (functions/http_errors.py): 503 on any route that reads
    one, and 507 too where the request writes."""
    if rule.endpoint == "static":
        return ()
    return (503,) if method in ("GET", "HEAD") else (503, 507)


def _policy(app: Flask, endpoint: str) -> RoutePolicy:
    blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
    return blueprint.policy if isinstance(blueprint, FiddleBlueprint) else DEFAULT_POLICY


def _operation(
    rule: Rule, operation: apidoc.Operation, policy: RoutePolicy, store_errors: tuple[int, ...]
) -> dict[str, Any]:
    notes = [operation.description, _policy_note(policy), operation.security]
    described: dict[str, Any] = {
        "summary": operation.summary,
        "description": " ".join(note for note in notes if note),
        "operationId": rule.endpoint,
        "tags": [rule.endpoint.rpartition(".")[0] or "site"],
        "parameters": _path_parameters(rule, operation) + _query_parameters(operation),
        "responses": _responses(operation, policy, store_errors),
    }
    if operation.body is not None:
        described["requestBody"] = _request_body(operation.body)
    if operation.security:
        described["security"] = [{"bearer": []}, {"session": []}]
    return described


def _policy_note(policy: RoutePolicy) -> str:
    origin = "Any origin may read the answer (cors)." if policy.cors else ""
    errors = "Errors are JSON." if policy.json_errors else "Errors are an HTML page."
    return f"{errors} {origin}".strip()


def _path_parameters(rule: Rule, operation: apidoc.Operation) -> list[dict[str, Any]]:
    parameters = []
    for name in _ARGUMENT.findall(rule.rule):
        converter = rule._converters[name]
        description, schema = operation.path.get(name, ("", _converter_schema(converter)))
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schema,
            }
        )
    return parameters


def _converter_schema(converter: Any) -> dict[str, Any]:
    """What a URL converter accepts, as a JSON schema."""
    if isinstance(converter, IntegerConverter):
        schema: dict[str, Any] = {"type": "integer", "minimum": converter.min or 0}
        if converter.max is not None:
            schema["maximum"] = converter.max
        return schema
    if isinstance(converter, PathConverter):
        return {"type": "string", "minLength": 1}
    return {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}


def _query_parameters(operation: apidoc.Operation) -> list[dict[str, Any]]:
    return [
        {
            "name": query.name,
            "in": "query",
            "required": query.required,
            "description": query.description,
            "schema": query.schema,
        }
        for query in operation.query
    ]


def _request_body(body: apidoc.Body) -> dict[str, Any]:
    schema: Any = body.schema
    if body.alternatives:
        schema = {"anyOf": [body.schema, *body.alternatives]}
    content: dict[str, Any] = {"schema": schema}
    if body.example is not None:
        content["example"] = body.example
    return {
        "required": body.required,
        "description": body.description,
        "content": {body.media_type: content},
    }


def _responses(
    operation: apidoc.Operation, policy: RoutePolicy, store_errors: tuple[int, ...]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for answer in operation.answers:
        described = _answer(answer)
        merged = responses.setdefault(str(answer.status), described)
        if merged is not described:  # another media type of the same status
            merged.setdefault("content", {}).update(described.get("content", {}))
    for status in operation.errors:
        responses[str(status)] = _error(status, policy)
    for status in store_errors:  # unless the route answers that status itself (/healthz's 503)
        responses.setdefault(str(status), _error(status, policy))
    return responses


def _answer(answer: apidoc.Answer) -> dict[str, Any]:
    described: dict[str, Any] = {"description": answer.description}
    if answer.media_type:
        schema: Any = answer.schema or _untyped(answer.media_type)
        if answer.alternatives:
            schema = {"anyOf": [schema, *answer.alternatives]}
        described["content"] = {answer.media_type: {"schema": schema}}
    if answer.links:
        described["links"] = {link.name: _link(link) for link in answer.links}
    if answer.headers:
        # A header an answer lists is always sent with it.
        described["headers"] = {name: _header(name, required=True) for name in answer.headers}
    return described


def _link(link: apidoc.Link) -> dict[str, Any]:
    described: dict[str, Any] = {"operationId": link.endpoint}
    if link.parameters:
        described["parameters"] = dict(link.parameters)
    if link.body is not None:
        described["requestBody"] = link.body
    return described


def _untyped(media_type: str) -> dict[str, Any]:
    return {"type": "string"} if media_type.startswith("text/") else {}


def _error(status: int, policy: RoutePolicy) -> dict[str, Any]:
    body: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    media_type = "application/json" if policy.json_errors else "text/html"
    content = {media_type: {"schema": body if policy.json_errors else {"type": "string"}}}
    description = apidoc.ERRORS[status]
    if status == 404 and policy.image_paths:
        # An image's or a video's 404 is empty unless the request accepts JSON or HTML
        # (functions/http_errors.py).
        content[EMPTY_MEDIA_TYPE] = {"schema": {"type": "string", "maxLength": 0}}
        description += IMAGE_404
    described: dict[str, Any] = {"description": description, "content": content}
    if status in apidoc.RETRY_LATER:
        described["headers"] = {"Retry-After": _header("Retry-After", required=True)}
    return described


def _header(name: str, *, required: bool = False) -> dict[str, Any]:
    description, schema = apidoc.HEADERS[name]
    return {"description": description, "required": required, "schema": schema}


def _security_schemes(spec: APISpec) -> None:
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API token."}
    )
    spec.components.security_scheme(
        "session",
        {"type": "apiKey", "in": "cookie", "name": "session",
         "description": "The session cookie of a signed-in browser (with its CSRF token)."},
    )  # fmt: skip
