"""The OpenAPI document (functions/openapi.py): every route of the app is in it, with what its
policy says; it is served to any origin at /openapi.json and readable at /api. Whether the
service answers what it says is the fuzz test's job (tests/test_fuzz.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from functions.app import create_app
from functions.config import Settings
from functions.openapi import (
    IMPLICIT_METHODS,
    UndocumentedRoute,
    build,
    document,
    documented_methods,
    openapi_path,
)
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    # The document needs no runner: it is read from the app's routes.
    data_dir = Path(tmp_path_factory.mktemp("openapi"))
    return create_app(Settings(data_dir=data_dir, runners=("http://127.0.0.1:9",)))


@pytest.fixture(scope="module")
def spec(app: Flask) -> dict[str, Any]:
    answer = app.test_client().get("/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json)


def test_every_route_of_the_app_is_in_the_document(app: Flask, spec: dict[str, Any]) -> None:
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 25
    for rule in rules:
        path = openapi_path(rule)
        assert path in spec["paths"], f"{rule.rule} is not in the document"
        methods = {method.lower() for method in documented_methods(rule)}
        assert methods, rule.rule
        assert methods <= set(spec["paths"][path]), (rule.rule, methods)


def test_the_document_has_nothing_the_app_does_not_serve(app: Flask, spec: dict[str, Any]) -> None:
    served = {
        (openapi_path(rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in documented_methods(rule)
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert documented == served


def test_a_route_without_a_description_fails_the_build(app: Flask, tmp_path: Path) -> None:
    extra = FiddleBlueprint("undocumented", __name__, policy=RoutePolicy(
        kind=Kind.API, target="pages", paths=("/_/new",), json_errors=True, cors=False,
        framing=Framing.DENY,
    ))  # fmt: skip
    extra.add_url_rule("/_/new", "new", lambda: "")
    fresh = create_app(Settings(data_dir=tmp_path, runners=("http://127.0.0.1:9",)))
    fresh.register_blueprint(extra)
    with pytest.raises(UndocumentedRoute, match="/_/new"):
        build(fresh)


def test_path_parameters_come_from_the_url_rules(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, path
    source = spec["paths"]["/s/{source_id}"]["get"]["parameters"][0]["schema"]
    assert source["type"] == "integer" and source["maximum"] == 2**63 - 1


def test_every_json_error_is_error_and_fields(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "fields"]
    # /healthz's 503 is its status report (degraded), not an error.
    for path, item in (p for p in spec["paths"].items() if p[0] != "/healthz"):
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    schema = content["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method)
                if int(status) in (429, 503):
                    assert response["headers"]["Retry-After"]["required"], (path, status)


def test_errors_follow_each_routes_policy(app: Flask, spec: dict[str, Any]) -> None:
    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        if not isinstance(blueprint, FiddleBlueprint):
            continue
        for method in documented_methods(rule):
            operation = spec["paths"][openapi_path(rule)][method.lower()]
            expected = "application/json" if blueprint.policy.json_errors else "text/html"
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                # An image's 404 may also be empty (functions/http_errors.py, image_paths).
                empty = (
                    {"text/plain"} if status == "404" and blueprint.policy.image_paths else set()
                )
                assert set(response["content"]) == {expected} | empty, (rule.rule, status)


def test_the_schemas_are_the_marshmallow_schemas(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    run = spec["paths"]["/_/run"]["post"]
    body = run["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/RunRequest"} in body["anyOf"]
    options = schemas["Options"]
    assert options["additionalProperties"] is False
    assert options["properties"]["width"] == {
        "type": "integer", "minimum": 4, "maximum": 2048, "default": 256
    }  # fmt: skip
    assert "textOnly" in options["properties"] and "text_only" not in options["properties"]
    assert run["responses"]["200"]["content"]["application/json"]["schema"] == {
        "anyOf": [
            {"$ref": "#/components/schemas/RunAnswer"},
            {"$ref": "#/components/schemas/SeveralRunsAnswer"},
        ]
    }
    assert {"fiddleHash", "runid", "compile_errors"} <= set(schemas["RunAnswer"]["required"])


def test_the_document_is_served_to_any_origin(app: Flask) -> None:
    answer = app.test_client().get("/openapi.json", headers={"Origin": "https://else.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert answer.json["openapi"] == "3.1.0"


def test_the_document_loads_as_openapi_3_1(spec: dict[str, Any]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    loaded = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == sum(len(item) for item in spec["paths"].values())


def test_the_api_page_shows_every_operation_and_schema(app: Flask, spec: dict[str, Any]) -> None:
    page = app.test_client().get("/api")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.data.decode()
    for item in spec["paths"].values():
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in html
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    # Nothing from another host: the pages' CSP allows this site alone.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_document_is_built_once_per_app(app: Flask) -> None:
    assert document(app) is document(app)


def test_implicit_methods_are_not_operations(app: Flask) -> None:
    rule: Rule = next(r for r in app.url_map.iter_rules() if r.rule == "/healthz")
    assert set(rule.methods or ()) >= IMPLICIT_METHODS and documented_methods(rule) == {"GET"}
