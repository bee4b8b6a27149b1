"""What every route answers besides its body: framing, Content-Security-Policy, CORS and the form
of its errors (JSON or the HTML error page), for a sample request of every route of the app and
of the addresses no route serves.

Written as a characterization test before the route policies moved into the blueprints
(functions/routing.py): the expected headers are spelled out here, not read from the code, so
the move could not change any of them unnoticed. Then: the declarations themselves.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from functions.config import Settings
from functions.routes import blueprints
from functions.routing import (
    DEFAULT_POLICY,
    FiddleBlueprint,
    Framing,
    Kind,
    RoutePolicy,
    policy_for_path,
)
from functions.services import services
from tests.fast.conftest import MakeApp
from tests.fast.fakes import fast_app
from tests.fast.test_malformed_input import concrete_paths
from tests.helpers import GENEROUS, bearer, png_bytes

POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'self'; "
    "frame-src 'self'"
)
API = "https://api.example"
POLICY_WITH_API = (
    f"default-src 'self'; connect-src 'self' {API}; img-src 'self' data: {API}; "
    f"object-src 'self' {API}; frame-src 'self' {API}"
)
# Framing and CSP: pages may never be framed, outputs only by this site, the embed by anyone.
FRAMING = {
    "deny": {"X-Frame-Options": "DENY",
             "Content-Security-Policy": f"{POLICY}; frame-ancestors 'none'"},
    "self": {"X-Frame-Options": "SAMEORIGIN",
             "Content-Security-Policy": f"{POLICY}; frame-ancestors 'self'"},
    "any": {"X-Frame-Options": None,
            "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self'"},
}  # fmt: skip
FRAMING_WITH_API = {
    "deny": {"X-Frame-Options": "DENY",
             "Content-Security-Policy": f"{POLICY_WITH_API}; frame-ancestors 'none'"},
    "self": {"X-Frame-Options": "SAMEORIGIN",
             "Content-Security-Policy": f"{POLICY_WITH_API}; frame-ancestors 'self'"},
    "any": {"X-Frame-Options": None,
            "Content-Security-Policy": f"default-src 'self'; connect-src 'self' {API}; "
                                       f"img-src 'self' {API}"},
}  # fmt: skip
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


@dataclass(frozen=True)
class Sample:
    method: str
    path: str
    status: int
    framing: str  # a key of FRAMING
    cors: bool  # any origin may read the answer, without credentials
    # How an error answer is written ("" for a success): "json", "html", or "image" (a 404 of an
    # image address asked for as an <img> does, without naming JSON or HTML: no body at all).
    errors: str = ""
    who: str = ""  # "admin": sent with an administrator's API token
    body: dict[str, Any] | None = None  # the exact JSON answer, where it is pinned here


# {hash}, {runid} and {source} are filled in with a stored fiddle, its run and a source image.
SAMPLES = [
    Sample("GET", "/", 200, "deny", False),
    Sample("POST", "/", 405, "deny", False, "html"),
    Sample("GET", "/c/{hash}", 200, "deny", False),
    Sample("GET", "/c/{missing}", 404, "deny", False, "html"),
    Sample("GET", "/iframe/{hash}", 200, "any", False),
    Sample("GET", "/iframe/{missing}", 404, "any", False, "html"),
    Sample("GET", "/e/{hash}", 200, "deny", True),
    Sample("GET", "/e/{missing}", 404, "deny", True, "json",
           body={"error": "There is nothing at this address.", "fields": {}}),
    Sample("GET", "/e/{hash}/results", 200, "deny", True),
    Sample("GET", "/e/{missing}/results", 404, "deny", True, "json"),
    Sample("POST", "/e/{hash}", 405, "deny", True, "json"),
    Sample("GET", "/i/{hash}_raster.png", 200, "self", True),
    Sample("GET", "/i/{missing}.pdf", 404, "self", True, "html"),
    Sample("GET", "/i/{missing}_raster.png", 404, "self", True, "image"),
    Sample("GET", "/i/{missing}_gpu.png", 404, "self", True, "image"),
    # The stand-in runner has no GPU (tests/test_gpu_outputs.py serves one from a runner that has).
    Sample("GET", "/i/{hash}_gpu.png", 404, "self", True, "image"),
    Sample("GET", "/i/{hash}_gpu.webm", 404, "self", True, "image"),
    Sample("GET", "/i/{missing}_cpu.webm", 404, "self", True, "image"),
    Sample("GET", "/ai/{runid}/{hash}.pdf", 200, "self", True),
    Sample("GET", "/ai/{runid}/{missing}.pdf", 404, "self", True, "html"),
    Sample("GET", "/ai/{runid}/{missing}_raster.png", 404, "self", True, "image"),
    Sample("POST", "/_/run", 200, "deny", True),
    Sample("POST", "/_/run?bad", 400, "deny", True, "json",
           body={"error": "The request body must be a JSON object.",
                 "fields": {"body": ["is not valid JSON"]}}),
    Sample("GET", "/_/run", 405, "deny", True, "json"),
    Sample("OPTIONS", "/_/run", 200, "deny", True),
    Sample("GET", "/healthz", 200, "deny", False),
    Sample("POST", "/healthz", 405, "deny", False, "json"),
    Sample("GET", "/metrics", 200, "deny", False),
    Sample("POST", "/metrics", 405, "deny", False, "json"),
    Sample("GET", "/signin", 200, "deny", False),
    Sample("POST", "/signin", 403, "deny", False, "html"),
    Sample("POST", "/signout", 303, "deny", False),
    Sample("POST", "/_/name", 401, "deny", False, "json",
           body={"error": "Sign in to do this.", "fields": {}}),
    Sample("OPTIONS", "/_/name", 200, "deny", False),
    Sample("GET", "/named/", 200, "deny", False),
    Sample("GET", "/named", 308, "deny", False),
    Sample("POST", "/_/upload", 401, "deny", False, "json"),
    Sample("POST", "/_/upload", 400, "deny", False, "json", "admin",
           body={"error": "Send the image in a multipart field named upload.",
                 "fields": {"upload": ["Send the image in a multipart field named upload."]}}),
    Sample("OPTIONS", "/_/upload", 200, "deny", False),
    Sample("GET", "/_/sources", 200, "deny", True),
    Sample("GET", "/_/builds", 200, "deny", True),
    Sample("POST", "/_/builds", 405, "deny", True, "json"),
    Sample("GET", "/ai/{runid}/{hash}/diff/{runid}.png", 404, "self", True, "image"),
    Sample("GET", "/s/{source}", 200, "deny", True),
    Sample("GET", "/s/{source}?size=64", 200, "deny", True),
    Sample("GET", "/s/99999", 404, "deny", True, "image"),
    Sample("OPTIONS", "/s/{source}", 200, "deny", True),
    Sample("GET", "/admin/", 401, "deny", False, "html"),
    Sample("GET", "/admin/", 303, "deny", False, "", "admin"),
    Sample("GET", "/admin/sources", 200, "deny", False, "", "admin"),
    Sample("GET", "/admin/named", 200, "deny", False, "", "admin"),
    Sample("GET", "/admin/audit", 200, "deny", False, "", "admin"),
    # (Before the one error handler, these two said "There is nothing at this address.".)
    Sample("DELETE", "/_/source/99999", 404, "deny", False, "json", "admin",
           body={"error": "There is no source image 99999.", "fields": {}}),
    Sample("DELETE", "/_/source/1", 401, "deny", False, "json"),
    Sample("POST", "/admin/sources/99999/delete", 404, "deny", False, "html", "admin"),
    Sample("DELETE", "/_/named/nobody", 404, "deny", False, "json", "admin",
           body={"error": "There is no fiddle named nobody.", "fields": {}}),
    Sample("POST", "/admin/named/nobody/delete", 404, "deny", False, "html", "admin"),
    Sample("GET", "/admin/jobs", 200, "deny", False, "", "admin"),
    Sample("GET", "/admin/jobs", 401, "deny", False, "html"),
    Sample("POST", "/admin/jobs/nothing/cancel", 404, "deny", False, "html", "admin"),
    Sample("POST", "/_/jobs", 401, "deny", False, "json",
           body={"error": "Sign in to do this.", "fields": {}}),
    Sample("POST", "/_/jobs", 400, "deny", False, "json", "admin",
           body={"error": "The request body must be a JSON object.",
                 "fields": {"body": ["must be sent as application/json"]}}),
    Sample("GET", "/_/jobs", 200, "deny", False, "", "admin"),
    Sample("GET", "/_/jobs/nothing", 404, "deny", False, "json", "admin",
           body={"error": "There is no job nothing.", "fields": {}}),
    Sample("POST", "/_/jobs/nothing/cancel", 404, "deny", False, "json", "admin",
           body={"error": "There is no job nothing.", "fields": {}}),
    Sample("DELETE", "/_/jobs", 405, "deny", False, "json"),
    Sample("GET", "/oembed?url=http://localhost/c/{hash}", 200, "deny", True),
    Sample("GET", "/oembed", 400, "deny", True, "json",
           body={"error": "The url parameter is required.",
                 "fields": {"request": ["The url parameter is required."]}}),
    Sample("GET", "/oembed?url=http://localhost/x", 404, "deny", True, "json",
           body={"error": "That url is not a fiddle page of this service.", "fields": {}}),
    Sample("GET", "/static/style.css", 200, "deny", False),
    # The interactive embed's script, which other sites load as a module (with CORS).
    Sample("GET", "/static/dist/embed.js", 200, "deny", True),
    Sample("GET", "/static/dist/embed.js.map", 200, "deny", True),
    Sample("GET", "/static/dist/editor.js", 200, "deny", False),
    Sample("GET", "/iframe/{hash}?code=1", 200, "any", False),
    Sample("GET", "/iframe/{hash}?code=2", 400, "any", False, "html"),
    # The API's own description: any origin may read the document; the page is a page.
    Sample("GET", "/openapi.json", 200, "deny", True),
    Sample("POST", "/openapi.json", 405, "deny", True, "json"),
    Sample("GET", "/api", 200, "deny", False),
    Sample("POST", "/api", 405, "deny", False, "html"),
    # Addresses no route serves.
    Sample("GET", "/nothing", 404, "deny", False, "html"),
    Sample("GET", "/_/nothing", 404, "deny", False, "json"),
    Sample("GET", "/_/source/abc", 404, "deny", False, "json"),
    Sample("GET", "/e/", 404, "deny", True, "json"),
    Sample("GET", "/i/", 404, "self", True, "html"),
    Sample("GET", "/ai/x", 404, "self", True, "html"),
    Sample("GET", "/iframe/", 404, "any", False, "html"),
    Sample("GET", "/admin/nothing", 404, "deny", False, "html"),
    Sample("GET", "/c/", 404, "deny", False, "html"),
]  # fmt: skip


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An app with a stored fiddle and a source image, made once for every sample."""
    data_dir = Path(tmp_path_factory.mktemp("policy")) / "data"
    settings = Settings(data_dir=data_dir, rate_limits=GENEROUS)
    app = app_with_admin(settings)
    client = app.test_client()
    ran = client.post("/_/run", json={"code": "def draw(canvas):\n    canvas.clear(0)\n"})
    assert ran.status_code == 200, ran.json
    admin = bearer(app, "root")
    uploaded = client.post(
        "/_/upload",
        data={"upload": (io.BytesIO(png_bytes()), "a.png")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 200, uploaded.json
    return {
        "app": app,
        "admin": admin,
        "hash": ran.json["fiddleHash"],
        "runid": ran.json["runid"],
        "missing": "0" * 32,
        "source": uploaded.json["id"],
    }


def app_with_admin(settings: Settings) -> Flask:
    app = fast_app(settings)
    services(app).accounts.create_user("root", "root-password", admin=True)
    return app


def send(stored: dict[str, Any], sample: Sample) -> Any:
    path = sample.path.format(**stored)
    headers = dict(stored["admin"]) if sample.who == "admin" else {}
    if sample.method == "OPTIONS":
        headers["Origin"] = "https://elsewhere.example"
        headers["Access-Control-Request-Method"] = "POST"
    client = stored["app"].test_client()
    if sample.method == "POST" and path == "/_/run":
        return client.post(path, json={"code": "def draw(canvas):\n    canvas.clear(0)\n"})
    if path == "/_/run?bad":
        return client.post("/_/run", data="{", content_type="application/json")
    return client.open(path, method=sample.method, headers=headers)


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s.method} {s.path} {s.who}" for s in SAMPLES])
def test_every_route_sends_its_policy(stored: dict[str, Any], sample: Sample) -> None:
    answer = send(stored, sample)
    assert answer.status_code == sample.status, answer.data[:300]
    assert_framing(answer, FRAMING[sample.framing])
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert_cors(answer, sample)
    assert_error_form(answer, sample)


def assert_framing(answer: Any, expected: dict[str, str | None]) -> None:
    for header, value in expected.items():
        assert answer.headers.get(header) == value, header


def assert_cors(answer: Any, sample: Sample) -> None:
    assert "Access-Control-Allow-Credentials" not in answer.headers
    if not sample.cors:
        assert not any(name.startswith("Access-Control-") for name, _ in answer.headers)
        return
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    for header, value in PREFLIGHT.items():
        assert answer.headers.get(header) == (value if sample.method == "OPTIONS" else None)


def assert_error_form(answer: Any, sample: Sample) -> None:
    if sample.errors == "json":
        body = answer.get_json()
        assert isinstance(body, dict) and isinstance(body["error"], str), answer.data[:300]
        if sample.body is not None:
            assert body == sample.body
    elif sample.errors == "html":
        assert answer.mimetype == "text/html"
        assert b"<html" in answer.data.lower() or b"<!doctype" in answer.data.lower()
    elif sample.errors == "image":
        assert answer.data == b"" and answer.mimetype == "text/plain"


@pytest.mark.parametrize("framing", ["deny", "self", "any"])
def test_an_api_on_another_origin_is_allowed_by_every_policy(
    make_app: MakeApp, framing: str
) -> None:
    client = make_app(api_base=API + "/x").test_client()
    path = {"deny": "/c/" + "0" * 32, "self": "/i/" + "0" * 32 + ".pdf", "any": "/iframe/x"}
    assert_framing(client.get(path[framing]), FRAMING_WITH_API[framing])


def test_every_route_has_a_sample(stored: dict[str, Any]) -> None:
    app: Flask = stored["app"]
    sampled = {(s.method, s.path.split("?")[0].format(**stored)) for s in SAMPLES}
    for rule in app.url_map.iter_rules():
        assert any(_covers(rule, method, path) for method, path in sampled), rule.rule


def _covers(rule: Rule, method: str, path: str) -> bool:
    adapter = rule.map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except Exception:
        return False
    return endpoint == rule.endpoint and bool(concrete_paths(rule))


# --- the declarations themselves ----------------------------------------------------------------


def test_every_route_is_covered_by_its_blueprints_paths(stored: dict[str, Any]) -> None:
    """An address a route serves falls back, for a method the route does not take, to the policy
    of that route's own blueprint: the declared paths cover every route."""
    app: Flask = stored["app"]
    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        for path in concrete_paths(rule)[:1]:
            found = policy_for_path(path, app_policies_of(app))
            if blueprint is None or rule.rule == "/":
                # /static/ and / are the site's (the bucket's, behind the load balancer).
                assert found is DEFAULT_POLICY, rule.rule
                assert _behaviour(blueprint.policy if blueprint else found) == _behaviour(found)
            else:
                assert isinstance(blueprint, FiddleBlueprint), rule.endpoint
                assert found is blueprint.policy, (rule.rule, found)


def test_no_path_is_declared_twice() -> None:
    declared = [path for blueprint in blueprints() for path in blueprint.policy.paths]
    assert len(declared) == len(set(declared))
    assert len({blueprint.name for blueprint in blueprints()}) == len(blueprints())


def test_every_blueprint_of_the_app_declares_a_policy(stored: dict[str, Any]) -> None:
    app: Flask = stored["app"]
    assert set(app.blueprints.values()) == set(blueprints())


@pytest.mark.parametrize("path", ["c/*", "/c/**", "/c/*/x", "/c /x", "/c/"])
def test_a_malformed_path_is_refused_when_declared(path: str) -> None:
    with pytest.raises(ValueError, match="URL map path"):
        RoutePolicy(Kind.PAGE, "pages", (path,), False, False, Framing.DENY)


def test_an_unknown_target_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="functions target"):
        RoutePolicy(Kind.PAGE, "everything", ("/c/*",), False, False, Framing.DENY)


def app_policies_of(app: Flask) -> list[RoutePolicy]:
    return [bp.policy for bp in app.blueprints.values() if isinstance(bp, FiddleBlueprint)]


def _behaviour(policy: RoutePolicy) -> tuple[Any, ...]:
    return (policy.target, policy.json_errors, policy.cors, policy.framing, policy.csp)
