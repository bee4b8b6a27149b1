"""Malformed input at every route of the app (issue 19, item 9): never a 5xx, and on the JSON paths
a 4xx with one sentence (and `fields` on a 400).

The routes come from `app.url_map`, so a route added later is attacked too, with every method it
accepts, every kind of path part its converters take, odd query strings, bodies and headers, both
anonymously and as a signed-in administrator.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from functions.inputs import MAX_JSON_DEPTH
from functions.routing import current_policy
from functions.services import services
from tests.fast.conftest import MakeApp
from tests.helpers import GENEROUS, bearer, csrf_of, sign_in

HASH = "0123456789abcdef0123456789abcdef"
# Values for each converter's path parts: plausible ones and hostile ones.
PATH_PARTS = {
    "default": [
        HASH,
        "@nobody",
        "%FF%FE",
        "%C2%B2",
        "%ED%A0%80",
        "%00",
        "x" * 2000,
        "@" + "a" * 200,
    ],
    "int": ["1", "0", "007", "9" * 30, "9" * 400],
    "path": [f"{HASH}_raster.png", "%FF.txt", "a/b/c", "@nobody.pdf", "..%2F..%2Fetc%2Fpasswd"],
}
QUERIES = [
    "size=%C2%B2",  # '²' is a digit to str.isdigit
    "size=%D9%A3",  # '٣', an Arabic-Indic digit that int() accepts
    "size=64&size=%C2%B2",
    "size=%FF",
    "size=-64",
    "size=" + "9" * 5000,
    "next=%0d%0a/evil",
    "format=%00",
    "compare=,,%FF",
    "url=http://[",
    "url=http://localhost:99999999/c/x",
    "&".join(f"k{i}=v" for i in range(500)),
]
JSON_TYPE = "application/json"
BODIES: list[tuple[str, bytes | str, str]] = [
    ("deep array", "[" * 100_000, JSON_TYPE),
    ("deep object", '{"a":' * 5000 + "1" + "}" * 5000, JSON_TYPE),
    ("just too deep", "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), JSON_TYPE),
    ("deep inside a run body", '{"code": "x", "options": {"width": ' + "[" * 900 + "]" * 900 + "}}",
     JSON_TYPE),
    ("deep in a name body", '{"name": "n", "hash": ' + '{"a":' * 5000, JSON_TYPE),
    ("not UTF-8", b'{"code": "\xff\xfe", "name": "\xc0\xaf"}', JSON_TYPE),
    ("escaped lone surrogates", '{"code": "\\ud800", "name": "\\udfff", "hash": "\\ud800"}',
     JSON_TYPE),
    ("huge integer", '{"code": "x", "options": {"width": 1' + "0" * 5000 + "}}", JSON_TYPE),
    ("NaN and Infinity", '{"code": "x", "options": {"width": NaN, "duration": Infinity}}',
     JSON_TYPE),
    ("null", "null", JSON_TYPE),
    ("empty", "", JSON_TYPE),
    ("a string", '"code"', JSON_TYPE),
    ("wrong types", '{"code": [], "name": {}, "hash": 5, "overwrite": "yes"}', JSON_TYPE),
    ("UTF-16 JSON", '{"code": "x"}'.encode("utf-16"), JSON_TYPE),
    ("form garbage", "a=%ZZ&b&=&csrf_token=%FF&name=%00", "application/x-www-form-urlencoded"),
    ("multipart without boundary", "--x\r\n\r\nhello", "multipart/form-data"),
    ("multipart cut short", '--b\r\nContent-Disposition: form-data; name="upload"; filename="a'
     , "multipart/form-data; boundary=b"),
    ("multipart junk upload", '--b\r\nContent-Disposition: form-data; name="upload"; '
     'filename="\xff.png"\r\n\r\nnot an image\r\n--b--\r\n', "multipart/form-data; boundary=b"),
    ("text", "hello", "text/plain"),
]  # fmt: skip
HEADERS: list[tuple[str, dict[str, str]]] = [
    ("latin-1 bearer token", {"Authorization": "Bearer \xe9\xff\x00token"}),
    ("huge bearer token", {"Authorization": "Bearer " + "a" * 20_000}),
    ("other scheme", {"Authorization": "Basic \xff\xfe"}),
    ("garbage cookie", {"Cookie": "session=%FF%00garbage; session=..."}),
    ("odd content type", {"Content-Type": "application/json; charset=\xff"}),
    ("odd boundary", {"Content-Type": "multipart/form-data; boundary=" + "\xff" * 500}),
    ("bracket host", {"Host": "["}),
    ("host with spaces", {"Host": "a b\xff:99999999"}),
    ("forwarded junk", {"X-Forwarded-For": "\xff, [", "X-Forwarded-Host": "["}),
]
CONTENT_LENGTHS = ["abc", "-1", "99999999999999999999", "1e3", "\xb2"]


@dataclass
class Findings:
    """What broke, as readable lines, so one run shows every failure at once."""

    failures: list[str] = field(default_factory=list)
    routes: set[str] = field(default_factory=set)

    sent: int = 0

    def check(self, rule: Rule, what: str, method: str, url: str, answer: Any, form: str) -> None:
        self.routes.add(rule.rule)
        self.sent += 1
        problem = _problem(url, answer, form)
        if problem:
            self.failures.append(f"{method} {url[:120]} ({what}): {problem}")


# oEmbed's own answer for a format it does not offer (https://oembed.com, section 2.3.4).
OEMBED_NO_SUCH_FORMAT = 501


def _problem(url: str, answer: Any, form: str) -> str | None:
    status = answer.status_code
    path = url.split("?", 1)[0]
    if path == "/oembed" and status == OEMBED_NO_SUCH_FORMAT and "format=" in url:
        return None
    if status >= 500:
        return f"answered {status}: {answer.data[:200]!r}"
    if b"Traceback" in answer.data:
        return "shows a traceback"
    if status == 404 and form == "image":
        return None if answer.data == b"" else f"404 of an image with a body: {answer.data[:80]!r}"
    if status < 400 or form == "html":
        return None
    body = answer.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return f"{status} without a JSON error: {answer.data[:200]!r}"
    if not _one_sentence(body["error"]):
        return f"{status} error is not one sentence: {body['error']!r}"
    if status == 400 and not (isinstance(body.get("fields"), dict) and body["fields"]):
        return f"400 without fields: {body!r}"
    return None


def _one_sentence(text: str) -> bool:
    return bool(text) and text.endswith(".") and "\n" not in text and len(text) < 400


_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def concrete_paths(rule: Rule) -> list[str]:
    """The rule's path with its parts filled in by each set of values its converters take."""
    converters = [m.group(1) or "default" for m in _ARGUMENT.finditer(rule.rule)]
    if not converters:
        return [rule.rule]
    choices = [PATH_PARTS.get(converter, PATH_PARTS["default"]) for converter in converters]
    paths = []
    for i in range(max(len(values) for values in choices)):
        parts = iter(values[i % len(values)] for values in choices)
        paths.append(_ARGUMENT.sub(lambda _, parts=parts: next(parts), rule.rule))  # type: ignore[misc]
    return paths


def requests_for(rule: Rule) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(what, method, url, test-client arguments) for every attack on the rule."""
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    for method in methods:
        for path in concrete_paths(rule):
            yield "path", method, path, {}
            for query in QUERIES:
                yield "query", method, f"{path}?{query}", {}
            for name, headers in HEADERS:
                yield name, method, path, {"headers": headers}
            if method == "GET":
                continue
            for name, data, content_type in BODIES:
                yield name, method, path, {"data": data, "content_type": content_type}
            for length in CONTENT_LENGTHS:
                overrides = {"CONTENT_LENGTH": length, "CONTENT_TYPE": JSON_TYPE}
                yield f"Content-Length {length!r}", method, path, {
                    "data": b"{}", "environ_overrides": overrides,
                }  # fmt: skip


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    application = make_app(rate_limits=GENEROUS)
    services(application).accounts.create_user("root", "root-password", admin=True)
    return application


def _error_form(app: Flask, method: str, url: str) -> str:
    """How the policy of the route that answers url (functions/routing.py) says its errors are
    written: "json", "html", or "image" (no body for a 404, as an <img> asks without Accept)."""
    with app.test_request_context(url, method=method):
        policy = current_policy()
        path = url.split("?", 1)[0]
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in policy.image_paths):
            return "image"
        return "json" if policy.json_errors else "html"


def attack_every_route(app: Flask, identity: dict[str, str]) -> Findings:
    findings = Findings()
    for rule in app.url_map.iter_rules():
        for what, method, url, arguments in requests_for(rule):
            client = app.test_client()
            headers = {**identity, **arguments.pop("headers", {})}
            answer = client.open(url, method=method, headers=headers, **arguments)
            findings.check(rule, what, method, url, answer, _error_form(app, method, url))
    return findings


@pytest.mark.parametrize("who", ["anonymous", "administrator"])
def test_no_route_answers_malformed_input_with_a_server_error(app: Flask, who: str) -> None:
    identity = bearer(app, "root") if who == "administrator" else {}
    findings = attack_every_route(app, identity)
    assert findings.sent > 1000
    assert findings.routes == {rule.rule for rule in app.url_map.iter_rules()}
    assert not findings.failures, "\n".join(findings.failures[:40])


def test_a_signed_in_session_with_a_malformed_csrf_token_is_refused_not_broken(
    app: Flask,
) -> None:
    client = app.test_client()
    assert sign_in(client, "root", "root-password").status_code == 303
    csrf_of(client)
    for token in ("\xe9", "\xff" * 64, "", "a" * 10_000):
        for method, url in [("POST", "/_/name"), ("DELETE", "/_/source/1"), ("POST", "/signout")]:
            answer = client.open(url, method=method, json={}, headers={"X-CSRF-Token": token})
            assert answer.status_code < 500, (method, url, token[:10], answer.data[:200])


def test_oembed_with_a_malformed_url_is_not_a_server_error(app: Flask) -> None:
    for url in ("http://[", "http://localhost:99999999/c/x", "http://%ff/c/x", "\x00"):
        answer = app.test_client().get("/oembed", query_string={"url": url})
        assert answer.status_code in (400, 404), (url, answer.data[:200])


def test_the_issue_examples(app: Flask) -> None:
    client = app.test_client()
    for body in ("[" * 100_000, '{"code": ' + "[" * 100_000):
        answer = client.post("/_/run", data=body, content_type=JSON_TYPE)
        assert answer.status_code == 400
        assert answer.json == {
            "error": f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} "
            "levels deep.",
            "fields": {
                "body": [f"nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"]
            },
        }
    named = client.post("/_/name", data='{"a":' * 100_000, content_type=JSON_TYPE,
                        headers=bearer(app, "root"))  # fmt: skip
    assert named.status_code == 400 and named.json["fields"] == {
        "body": [f"nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"]
    }
    for size in ("²", "٣", "64 ", "064"):
        answer = client.get(f"/s/1?size={size}")
        assert answer.status_code == 400
        assert answer.json == {
            "error": "size must be one of 64, 128, 256.",
            "fields": {"size": ["must be one of 64, 128, 256"]},
        }
