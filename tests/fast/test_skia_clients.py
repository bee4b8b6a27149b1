"""Skia Fiddle's own clients against this service, unchanged (issue 18, item 7).

Skia's clients (google/skia-buildbot: the Go types in `fiddlek/go/types`, the Go client and the
`fiddlecli` bulk runner, the `fiddle-sk` and `fiddle-embed-sk` web components) cannot be built or
run here (Go >= 1.24 and its module proxy are not available), so this file speaks their JSON
exactly as they do, written from their documented field names and behaviour (never their code):

- bodies as Go's json.Marshal writes a `types.FiddleContext`: every field in struct order, zero
  values included, compact, `<>&` escaped; or as fiddle-sk's JSON.stringify writes it, sent with
  the Fetch default `Content-Type: text/plain;charset=UTF-8` from another origin;
- answers read by Go's rules (`GoDecoder`): keys matched case-insensitively with the last
  duplicate winning, unknown keys ignored, an int field refusing 3.0, null leaving a field as it
  was, into the fields of `types.RunResults` and `types.FiddleContext`;
- the Skia-form hash computed on the client side as Skia's `Options.ComputeHash` does since
  2021, here from its description, independently of functions/hashing.py;
- fiddlecli's bulk run: two tries per fiddle, a sleep after a failed try, a retry on a hash that
  differs from its own, a fatal error for any fiddle left without a matching answer.

All of it over real HTTP, against the app served by waitress, with the runner's drawing code in
process (tests/fast/fakes.py).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.config import Settings
from functions.services import services
from tests.fast.fakes import fast_app
from tests.helpers import SKIA_RED_LINE, served

# --- Go's encoding/json, as far as these types need it -------------------------------------------

# Go types of the wire structs, in struct order (fiddlek/go/types/types.go).
OPTIONS: dict[str, str] = {
    "width": "int", "height": "int", "source": "int", "source_mipmap": "bool", "srgb": "bool",
    "f16": "bool", "textOnly": "bool", "animated": "bool", "duration": "float64",
    "offscreen": "bool", "offscreen_width": "int", "offscreen_height": "int",
    "offscreen_sample_count": "int", "offscreen_texturable": "bool", "offscreen_mipmap": "bool",
}  # fmt: skip
FIDDLE_CONTEXT: dict[str, Any] = {
    "version": "string", "sources": "string", "fiddlehash": "string", "code": "string",
    "name": "string", "overwrite": "bool", "fast": "bool", "options": OPTIONS,
}  # fmt: skip
COMPILE_ERROR: dict[str, Any] = {"text": "string", "line": "int", "col": "int"}
RUN_RESULTS: dict[str, Any] = {
    "compile_errors": [COMPILE_ERROR],
    "runtime_error": "string",
    "fiddleHash": "string",
    "text": "string",
}
ZERO = {"int": 0, "bool": False, "float64": 0.0, "string": ""}
INT64 = (-(2**63), 2**63 - 1)


class GoError(ValueError):
    """What json.Unmarshal would return."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in order, duplicates kept."""


def go_decode(data: bytes, schema: dict[str, Any]) -> dict[str, Any]:
    """json.Unmarshal of data into a zero value of the struct `schema` describes."""
    try:
        value = json.loads(data, object_pairs_hook=Pairs)
    except ValueError as error:
        raise GoError(f"invalid JSON: {error}") from None
    return _struct(value, schema, _zero(schema))


def _zero(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {name: _zero(kind) for name, kind in schema.items()}
    return None if isinstance(schema, list) else ZERO[schema]


def _fold(name: str) -> str:
    # Go folds keys with Unicode simple folding: the Kelvin sign is "k", a long s is "s".
    return name.lower().replace("\u017f", "s")


def _field(key: str, schema: dict[str, Any]) -> str | None:
    """An exact match first, else a case-insensitive one (encoding/json's rule)."""
    if key in schema:
        return key
    return next((name for name in schema if _fold(name) == _fold(key)), None)


def _struct(value: Any, schema: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return current
    if not isinstance(value, Pairs):
        raise GoError(f"cannot unmarshal {type(value).__name__} into a struct")
    for key, item in value:  # in order: a later duplicate overwrites an earlier one
        name = _field(key, schema)
        if name is not None:
            current[name] = _value(item, schema[name], current[name])
    return current


def _value(item: Any, kind: Any, current: Any) -> Any:
    if item is None:
        return current  # null leaves a Go value as it was
    if isinstance(kind, dict):
        return _struct(item, kind, _zero(kind) if current is None else current)
    if isinstance(kind, list):
        if not isinstance(item, list):
            raise GoError("cannot unmarshal into a slice")
        return [_value(element, kind[0], _zero(kind[0])) for element in item]
    return _scalar(item, kind)


def _scalar(item: Any, kind: str) -> Any:
    if kind == "int":
        # json.loads gives 3 for "3" and 3.0 for "3.0" or "3e0", which Go refuses for an int.
        if isinstance(item, bool) or not isinstance(item, int) or not INT64[0] <= item <= INT64[1]:
            raise GoError(f"cannot unmarshal {item!r} into Go value of type int")
        return item
    if kind == "float64":
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise GoError(f"cannot unmarshal {item!r} into Go value of type float64")
        return float(item)
    expected = {"bool": bool, "string": str}[kind]
    if not isinstance(item, expected):
        raise GoError(f"cannot unmarshal {item!r} into Go value of type {kind}")
    return item


def go_marshal(value: dict[str, Any], schema: dict[str, Any]) -> bytes:
    """json.Marshal of a struct: every field in struct order (none is omitempty), compact."""
    parts = [f"{_go_string(name)}:{_go_value(value[name], kind)}" for name, kind in schema.items()]
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def _go_value(value: Any, kind: Any) -> str:
    if isinstance(kind, dict):
        return go_marshal(value, kind).decode("utf-8")
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return str(int(value))
    if kind == "float64":
        return _go_float(float(value))
    return _go_string(value)


def _go_float(number: float) -> str:
    # Go writes the shortest form that reads back, without a trailing ".0": 0, 1.5, 2.
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


def _go_string(text: str) -> str:
    # Go's HTMLEscape: <, > and & as \u003c etc.; U+2028 and U+2029 escaped too.
    encoded = json.dumps(text, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        encoded = encoded.replace(char, f"\\u{ord(char):04x}")
    return encoded


def fiddle_context(code: str, **options: Any) -> dict[str, Any]:
    """A FiddleContext as a Go client fills it: zero values wherever the input says nothing."""
    context = _zero(FIDDLE_CONTEXT)
    context["code"] = code
    context["options"].update(options)
    return context


# --- Skia's hash (its current form), as fiddlecli computes it ------------------------------------


def skia_form_hash(code: str, options: dict[str, Any]) -> str:
    """Options.ComputeHash since 2021: the option lines, one `#line 1`, the code; MD5 of them
    joined by newlines, then the source id as a little-endian int64."""
    o = {**_zero(OPTIONS), **options}
    lines = ["DECLARE_bool(portableFonts);", f"// WxH: {o['width']}, {o['height']}"]
    if o["srgb"] or o["f16"]:
        lines.append(f"// SRGB: {_go_bool(o['srgb'])}, {_go_bool(o['f16'])}")
    if o["textOnly"]:
        lines.append("// TextOnly: true")
    if o["animated"]:
        lines.append("// Animated: true")
    if o["duration"] != 0:
        lines.append(f"// Duration: {o['duration']:f}")
    if o["offscreen"]:
        lines.append(
            f"// Offscreen WxHxS: {o['offscreen_width']}, {o['offscreen_height']}, "
            f"{o['offscreen_sample_count']}"
        )
        lines.append(f"// Offscreen Texturable: {_go_bool(o['offscreen_texturable'])}")
        lines.append(f"// Offscreen MipMap: {_go_bool(o['offscreen_mipmap'])}")
    if o["source_mipmap"]:
        lines.append("// Source MipMap: true")
    lines += ["#line 1", *code.split("\n")]
    digest = hashlib.md5("\n".join(lines).encode("utf-8"), usedforsecurity=False)
    digest.update(struct.pack("<q", o["source"]))
    return digest.hexdigest()


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


# --- fiddlecli ----------------------------------------------------------------------------------

RETRIES = 2  # fiddlecli's tries per fiddle
GO_CLIENT_HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "Go-http-client/1.1",
    "Accept-Encoding": "gzip",
}


@dataclass
class FiddleCli:
    """fiddlecli 1.2's bulk run: a BulkRequest in, a BulkResponse and its fatal errors out."""

    domain: str
    procs: int = 4
    sleep: Callable[[float], None] = field(default=lambda seconds: None)
    log: list[str] = field(default_factory=list)

    def run(self, bulk: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        with ThreadPoolExecutor(self.procs) as pool:
            answers = dict(zip(bulk, pool.map(self._one, bulk.values()), strict=True))
        fatal = [why for fid, entry in bulk.items() if (why := self._verdict(fid, entry, answers))]
        return {fid: answer for fid, answer in answers.items() if answer is not None}, fatal

    def _verdict(self, fid: str, entry: dict[str, Any], answers: dict[str, Any]) -> str | None:
        answer = answers[fid]
        if answer is None:
            return f"Failed to get any response for {fid!r}"
        if answer["fiddleHash"] != self._want(entry):
            return f"Got mismatched hashes for {fid!r}"
        return None

    def _want(self, entry: dict[str, Any]) -> str:
        return skia_form_hash(entry["code"], entry.get("options", {}))

    def _one(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        context = fiddle_context(entry["code"], **entry.get("options", {}))
        context["fast"] = bool(entry.get("fast", False))
        body, want, answer = go_marshal(context, FIDDLE_CONTEXT), self._want(entry), None
        for attempt in range(RETRIES):
            answer = self._try(body, attempt) or answer
            if answer is not None and answer["fiddleHash"] == want:
                return answer
            if answer is not None:
                self.log.append(f"Want {want!r} != Got {answer['fiddleHash']!r}")
        return answer

    def _try(self, body: bytes, attempt: int) -> dict[str, Any] | None:
        """One try; None (after fiddlecli's sleep) when it failed."""
        try:
            response = requests.post(
                f"{self.domain}/_/run", data=body, headers=GO_CLIENT_HEADERS, timeout=300
            )
            if response.status_code != 200:
                raise GoError(f"status {response.status_code}")
            answer = go_decode(response.content, RUN_RESULTS)
            if answer["runtime_error"] != "":
                raise GoError("runtime error (a timeout, as fiddlecli reads it)")
        except (requests.RequestException, GoError) as failure:
            self.log.append(f"try {attempt + 1} failed: {failure}")
            self.sleep(attempt + 1)
            return None
        return answer


# --- the service on a port ----------------------------------------------------------------------


def service(data_dir: Path, hash_form: str) -> Any:
    # fiddlecli runs 4 fiddles at a time (--procs 4): as many runs in flight as one client may
    # have here, or some of its tries would be turned away with 429 (README, Skia's clients).
    env = {"FIDDLE_HASH": hash_form, "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT": "4"}
    app = fast_app(Settings.from_env(env, data_dir=data_dir))
    services(app).accounts.create_user("root", "root-password", admin=True)
    return app


@pytest.fixture(scope="module")
def skia_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return service(tmp_path_factory.mktemp("skia") / "data", "skia")


@pytest.fixture(scope="module")
def skia_service(skia_app: Any) -> Iterator[str]:
    with served(skia_app) as url:
        yield url


@pytest.fixture(scope="module")
def fiddle1_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(service(tmp_path_factory.mktemp("fiddle1") / "data", "fiddle1")) as url:
        yield url


class FlakyProxy:
    """The network between a client and the service, failing the first `failures` POSTs with
    502 (a load balancer's answer to an instance that went away) and passing on the rest."""

    def __init__(self, target: str, failures: int) -> None:
        self.target, self.failures, self.posts = target, failures, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.posts += 1
                if proxy.posts <= proxy.failures:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {"Content-Type": self.headers["Content-Type"]}
                answer = requests.post(f"{proxy.target}{self.path}", data=body, headers=headers)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers["Content-Type"])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the Go types, the decoder and the hash themselves --------------------------------------------

RED_LINE = SKIA_RED_LINE


def test_the_client_side_hash_gives_skias_own_vectors() -> None:
    options: dict[str, Any] = {"width": 256, "height": 256}
    steps = [
        ({}, "163b9c435a7fbf1367ed9ee71839a4cc"),
        ({"srgb": True, "f16": True}, "f54b0278c8d075817fa590056437bab3"),
        ({"animated": True, "duration": 1.5}, "baa851459d5f03fc7422c1cce7bb8a74"),
        (
            {"offscreen": True, "offscreen_width": 256, "offscreen_height": 256,
             "offscreen_sample_count": 1},
            "cb94299a913c6ac9053e46b685971aca",
        ),
        ({"offscreen_texturable": True}, "ee4bc8e0f854533af31e19cc2650f14f"),
        ({"offscreen_mipmap": True}, "78a8c62fbd8170ae082c0efb6c0e3bde"),
        ({"source_mipmap": True}, "a325ad1b372655bb1cb1fc195310e878"),
    ]  # fmt: skip
    for change, expected in steps:
        options.update(change)
        assert skia_form_hash(RED_LINE, options) == expected, change


def test_the_decoder_reads_json_as_go_does() -> None:
    decode = go_decode
    assert decode(b'{"FIDDLEHASH": "a", "fiddleHash": "b"}', RUN_RESULTS)["fiddleHash"] == "b"
    assert decode(b'{"fiddleHash": "b", "fiddlehash": "a"}', RUN_RESULTS)["fiddleHash"] == "a"
    assert decode(b'{"fiddleHa\\u017fh": "s"}', RUN_RESULTS)["fiddleHash"] == "s"
    assert decode(b'{"runtime_error": null, "other": [1]}', RUN_RESULTS)["runtime_error"] == ""
    assert decode(b'{"compile_errors": null}', RUN_RESULTS)["compile_errors"] is None
    for bad in (b"3.0", b"3e0", b'"3"', b"true", b"9223372036854775808"):
        with pytest.raises(GoError):
            decode(b'{"line": ' + bad + b"}", COMPILE_ERROR)
    with pytest.raises(GoError):
        decode(b'{"runtime_error": 1}', RUN_RESULTS)
    with pytest.raises(GoError):
        decode(b"[]", RUN_RESULTS)


def test_the_encoder_writes_a_fiddle_context_as_go_does() -> None:
    context = fiddle_context("a<b && c>d", width=256, height=256, duration=1.5)
    assert go_marshal(context, FIDDLE_CONTEXT) == (
        b'{"version":"","sources":"","fiddlehash":"","code":"a\\u003cb \\u0026\\u0026 c\\u003ed",'
        b'"name":"","overwrite":false,"fast":false,"options":{"width":256,"height":256,'
        b'"source":0,"source_mipmap":false,"srgb":false,"f16":false,"textOnly":false,'
        b'"animated":false,"duration":1.5,"offscreen":false,"offscreen_width":0,'
        b'"offscreen_height":0,"offscreen_sample_count":0,"offscreen_texturable":false,'
        b'"offscreen_mipmap":false}}'
    )
    assert _go_float(0.0) == "0" and _go_float(2.0) == "2"


# --- the Go client and fiddlecli ----------------------------------------------------------------

DRAW_LINE = (
    "import skia\n\ndef draw(canvas):\n"
    "    canvas.drawLine(20, 20, 100, 100, skia.Paint(Color=skia.ColorRED, StrokeWidth=8))\n"
)
BULK: dict[str, dict[str, Any]] = {
    "line": {"code": DRAW_LINE, "options": {"width": 256, "height": 256}},
    "no_trailing_newline": {
        "code": DRAW_LINE.rstrip("\n"), "options": {"width": 128, "height": 64},
    },
    "crlf": {"code": DRAW_LINE.replace("\n", "\r\n"), "options": {"width": 100, "height": 100}},
    "non_ascii": {
        "code": "# héllo wörld ✓ 日本 <&>\ndef draw(canvas):\n    print('日本')\n",
        "options": {"width": 64, "height": 64, "textOnly": True},
    },
    "source_1": {
        "code": "def draw(canvas):\n    canvas.drawImage(image, 0, 0)\n",
        "options": {"width": 256, "height": 256, "source": 1, "srgb": True, "f16": True},
    },
    "offscreen": {
        "code": "def draw(canvas):\n    canvas.clear(0xFF00FF00)\n",
        "options": {"width": 32, "height": 32, "offscreen": True, "offscreen_width": 256,
                    "offscreen_height": 256, "offscreen_sample_count": 1},
    },
    "animated": {
        "code": "def draw(canvas):\n    canvas.clear(0xFF0000FF)\n",
        "options": {"width": 32, "height": 32, "animated": True, "duration": 1.5},
    },
    # A compile error passes too: the answer is 200 with the stored fiddle's hash.
    "compile_error": {
        "code": "def draw(canvas):\n    x = (\n", "options": {"width": 16, "height": 16},
    },
}  # fmt: skip


def post_go(domain: str, context: dict[str, Any]) -> requests.Response:
    body = go_marshal(context, FIDDLE_CONTEXT)
    return requests.post(f"{domain}/_/run", data=body, headers=GO_CLIENT_HEADERS, timeout=300)


def test_a_go_client_sending_zeros_for_the_offscreen_fields_is_answered(
    skia_service: str,
) -> None:
    context = fiddle_context(DRAW_LINE, width=256, height=256)
    response = post_go(skia_service, context)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    answer = go_decode(response.content, RUN_RESULTS)
    assert answer["runtime_error"] == "" and answer["compile_errors"] == []
    assert answer["fiddleHash"] == skia_form_hash(DRAW_LINE, context["options"])
    # The zeros meant nothing: the fiddle keeps the defaults, as any other client's would.
    stored = requests.get(f"{skia_service}/e/{answer['fiddleHash']}", timeout=30).json()
    assert stored["options"]["offscreen_width"] == 64
    assert stored["options"]["offscreen_sample_count"] == 1


def test_fiddlecli_bulk_run_passes_with_fiddle_hash_skia(skia_service: str) -> None:
    cli = FiddleCli(skia_service)
    responses, fatal = cli.run(BULK)
    assert fatal == [] and cli.log == []
    assert set(responses) == set(BULK)
    for fid, answer in responses.items():
        assert set(answer) == set(RUN_RESULTS)  # what fiddlecli writes to its output file
        assert answer["fiddleHash"] == skia_form_hash(BULK[fid]["code"], BULK[fid]["options"])
    assert responses["non_ascii"]["text"] == "日本\n"
    [error] = responses["compile_error"]["compile_errors"]
    assert "error:" in error["text"] and (error["line"], error["col"]) > (0, 0)
    # Again with fast: each is answered from storage, with the same hashes.
    fast = {fid: {**entry, "fast": True} for fid, entry in BULK.items() if fid != "compile_error"}
    again, fatal = FiddleCli(skia_service).run(fast)
    assert fatal == [] and all(again[f]["fiddleHash"] == responses[f]["fiddleHash"] for f in fast)


def test_fiddlecli_refuses_fiddle1_answers_for_code_of_several_lines(fiddle1_service: str) -> None:
    """The default hash form is the canonical one: fiddlecli, which checks the hash it gets
    against its own, fails on any fiddle with a newline (the two forms then differ)."""
    cli = FiddleCli(fiddle1_service)
    one_line = {"code": "def draw(canvas): pass", "options": {"width": 64, "height": 64}}
    responses, fatal = cli.run({"lines": BULK["line"], "one_line": one_line})
    assert fatal == ["Got mismatched hashes for 'lines'"]
    assert sum("!= Got" in line for line in cli.log) == RETRIES
    assert responses["one_line"]["fiddleHash"] == skia_form_hash(
        one_line["code"], one_line["options"]
    )


def test_fiddlecli_retries_after_a_failed_try(skia_service: str, skia_app: Any) -> None:
    entry = {"code": DRAW_LINE + "# retried\n", "options": {"width": 64, "height": 64}}
    slept: list[float] = []
    with FlakyProxy(skia_service, failures=1) as proxy:
        responses, fatal = FiddleCli(proxy.url, sleep=slept.append).run({"retried": entry})
    assert fatal == [] and proxy.posts == 2 and slept == [1]
    digest = responses["retried"]["fiddleHash"]
    assert digest == skia_form_hash(entry["code"], entry["options"])
    canonical = requests.get(f"{skia_service}/e/{digest}", timeout=30).json()["fiddleHash"]
    assert len(services(skia_app).fiddles.runs(canonical)) == 1


def test_fiddlecli_gives_up_on_a_runtime_error_after_two_tries(
    skia_service: str, skia_app: Any
) -> None:
    entry = {"code": "def draw(canvas):\n    1 / 0\n", "options": {"width": 64, "height": 64}}
    slept: list[float] = []
    cli = FiddleCli(skia_service, sleep=slept.append)
    _, fatal = cli.run({"raises": entry})
    assert fatal == ["Failed to get any response for 'raises'"] and slept == [1, 2]
    # Each try was answered (200, the hash, the error); the fiddle is stored once, without runs.
    canonical = requests.get(
        f"{skia_service}/e/{skia_form_hash(entry['code'], entry['options'])}", timeout=30
    ).json()["fiddleHash"]
    assert services(skia_app).fiddles.runs(canonical) == []


def test_fiddlecli_input_without_a_size_is_refused_clearly(skia_service: str) -> None:
    """Go's zero width (a BulkRequest entry that gives none) is below this service's 4 pixels,
    the minimum Skia's own editor enforces: a 400 fiddlecli counts as a failed try."""
    response = post_go(skia_service, fiddle_context(DRAW_LINE))
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "options.width": ["must be between 4 and 2048"],
        "options.height": ["must be between 4 and 2048"],
    }
    _, fatal = FiddleCli(skia_service).run({"sizeless": {"code": DRAW_LINE}})
    assert fatal == ["Failed to get any response for 'sizeless'"]


# --- fiddle-sk: the editor component ------------------------------------------------------------

ORIGIN = "https://docs.example"
# What fiddle-sk's POST carries: no headers set, so the browser's defaults for a string body.
BROWSER_HEADERS = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN}
# Skia's editor page starts with these options (newindex.ts): source 1, offscreen off with its
# own numbers in the offscreen fields.
PAGE_OPTIONS = {
    "width": 256, "height": 256, "source": 1, "source_mipmap": False, "srgb": False, "f16": False,
    "textOnly": False, "animated": False, "duration": 0, "offscreen": False,
    "offscreen_width": 256, "offscreen_height": 256, "offscreen_sample_count": 1,
    "offscreen_texturable": False, "offscreen_mipmap": False,
}  # fmt: skip


def post_from_component(domain: str, code: str, options: dict[str, Any]) -> requests.Response:
    """fiddle-sk's run: JSON.stringify of its object literal, in its key order."""
    body = {"version": "", "sources": "", "fiddlehash": "", "name": "", "overwrite": False,
            "fast": False, "code": code, "options": options}  # fmt: skip
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return requests.post(f"{domain}/_/run", data=data, headers=BROWSER_HEADERS, timeout=300)


def has_images(options: dict[str, Any], answer: dict[str, Any]) -> bool:
    """fiddle-sk's hasImages(): when it shows the results' images."""
    compile_error = any("error:" in error["text"] for error in answer["compile_errors"] or [])
    return (
        not options["textOnly"]
        and answer["fiddleHash"] != ""
        and answer["runtime_error"] == ""
        and not compile_error
    )


def get(url: str) -> requests.Response:
    return requests.get(url, headers={"Origin": ORIGIN}, timeout=30)


def test_fiddle_sk_runs_with_its_default_options_from_another_origin(skia_service: str) -> None:
    code = "def draw(canvas):\n    canvas.drawImage(image, 0, 0)\n"
    response = post_from_component(skia_service, code, PAGE_OPTIONS)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    answer = response.json()
    assert answer["runtime_error"] == "" and isinstance(answer["compile_errors"], list)
    assert has_images(PAGE_OPTIONS, answer)
    digest = answer["fiddleHash"]
    raster = get(f"{skia_service}/i/{digest}_raster.png")
    assert raster.status_code == 200 and raster.headers["Content-Type"] == "image/png"
    assert raster.headers["Access-Control-Allow-Origin"] == "*"
    # Always in the DOM, so always requested: the GPU image and the videos, an empty 404 each
    # here (the stand-in runner has no GPU, and the fiddle is still; tests/test_gpu_outputs.py
    # serves them from a runner with a GPU), which an <img> shows as nothing.
    for suffix in ("_gpu.png", "_cpu.webm", "_gpu.webm"):
        missing = get(f"{skia_service}/i/{digest}{suffix}")
        assert (missing.status_code, missing.content) == (404, b""), suffix
    # The source picker: <img src=/s/N> for N in 1..6.
    for source_id in range(1, 7):
        picked = get(f"{skia_service}/s/{source_id}")
        assert picked.status_code == 200 and picked.content[:4] == b"\x89PNG"


def test_fiddle_sk_recognises_a_compile_error(skia_service: str) -> None:
    code = "def draw(canvas):\n    canvas.drawLine(1, 2,\n"
    answer = post_from_component(skia_service, code, PAGE_OPTIONS).json()
    errors = answer["compile_errors"]
    assert any("error:" in error["text"] for error in errors)  # hasCompileErrors()
    assert not has_images(PAGE_OPTIONS, answer) and answer["fiddleHash"]
    for error in errors:
        assert error["line"] > 0 and error["col"] > 0  # clickable, 1-based
        assert error["text"].startswith(f"draw.py:{error['line']}:{error['col']}: error: ")


def test_fiddle_sk_shows_the_text_of_a_text_only_fiddle(skia_service: str) -> None:
    options = {**PAGE_OPTIONS, "textOnly": True, "source": 0}
    answer = post_from_component(skia_service, "def draw(canvas):\n    print('ünï')\n", options)
    text = get(f"{skia_service}/i/{answer.json()['fiddleHash']}.txt")
    assert text.status_code == 200 and text.content.decode("utf-8") == "ünï\n"
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["Access-Control-Allow-Origin"] == "*"


# --- fiddle-embed-sk: the embed component -------------------------------------------------------


def embed_context(domain: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What fiddle-embed-sk reads from /e/<name>: the JSON object, and Go's reading of it."""
    response = get(f"{domain}/e/{name}")
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json(), go_decode(response.content, FIDDLE_CONTEXT)


def assert_fiddle_context_types(raw: dict[str, Any]) -> None:
    """Each FiddleContext field present, with its JSON type (as a TS or Go reader needs)."""
    for name, kind in FIDDLE_CONTEXT.items():
        assert name in raw, name
        if kind == "string":
            assert isinstance(raw[name], str), name
        elif kind == "bool":
            assert isinstance(raw[name], bool), name
    assert set(raw["options"]) >= set(OPTIONS)
    for name, kind in OPTIONS.items():
        value = raw["options"][name]
        assert isinstance(value, bool) == (kind == "bool"), name
        assert isinstance(value, int | float), name
    sources = json.loads(raw["sources"])
    assert isinstance(sources, list) and all(type(i) is int for i in sources)


def test_fiddle_embed_sk_shows_a_fiddle_by_its_hash(skia_service: str) -> None:
    code = "def draw(canvas):\n    canvas.drawCircle(40, 40, 30, skia.Paint(Color=0xFF3366CC))\n"
    digest = post_from_component(skia_service, code, {**PAGE_OPTIONS, "source": 0}).json()
    raw, context = embed_context(skia_service, digest["fiddleHash"])
    assert_fiddle_context_types(raw)
    assert json.loads(raw["sources"])[:6] == [1, 2, 3, 4, 5, 6]
    assert raw["fiddlehash"] == raw["fiddleHash"] and context["fiddlehash"] == raw["fiddlehash"]
    assert (context["code"], context["name"], context["overwrite"]) == (code, "", False)
    # fiddle-sk.context = json: the image from `fiddlehash`, the pop-out link /c/<fiddlehash>.
    image = get(f"{skia_service}/i/{raw['fiddlehash']}_raster.png")
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert get(f"{skia_service}/c/{raw['fiddlehash']}").status_code == 200
    # A run from the embed sends back the options it loaded, as they are.
    rerun = post_from_component(skia_service, code + "# edited\n", raw["options"])
    assert rerun.status_code == 200 and rerun.json()["runtime_error"] == ""


def test_fiddle_embed_sk_shows_a_named_fiddle(skia_service: str, skia_app: Any) -> None:
    code = "def draw(canvas):\n    canvas.clear(0xFFFFCC00)\n"
    digest = post_from_component(skia_service, code, {**PAGE_OPTIONS, "source": 0}).json()
    token = services(skia_app).accounts.create_token("root")
    named = requests.post(
        f"{skia_service}/_/name",
        json={"name": "yellow", "hash": digest["fiddleHash"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert named.status_code == 200, named.text
    raw, context = embed_context(skia_service, "@yellow")
    assert_fiddle_context_types(raw)
    # The hash itself (Skia's server would say "@yellow"), so /i/<fiddlehash> and /c/ work.
    assert context["fiddlehash"] == raw["fiddleHash"] and context["name"] == "yellow"
    assert get(f"{skia_service}/i/{context['fiddlehash']}_raster.png").status_code == 200
