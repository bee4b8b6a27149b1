"""Text that is not valid Unicode, from a program or from storage, never breaks a page (issue 19,
item 7): what a run prints or raises is stored as valid UTF-8, and every page renders whatever is
stored, with U+FFFD for what cannot be read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from fiddle_protocol.messages import PROTOCOL_VERSION, RunResult
from functions.services import services
from functions.storage.blobstore import BlobStore
from functions.text import clean_result, decode_text, valid_text, valid_utf8

REPLACEMENT = "\ufffd"
PAGES = ("/c/{}", "/iframe/{}", "/e/{}", "/e/{}/results")


def store_of(app: Flask) -> BlobStore:
    return services(app).fiddles.store  # type: ignore[no-any-return]


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def assert_pages_render(client: Any, digest: str) -> list[str]:
    """Every page of the fiddle answers 200 with valid UTF-8; returns their texts."""
    texts = []
    for page in PAGES:
        answer = client.get(page.format(digest))
        assert answer.status_code == 200, (page, answer.data[:300])
        assert is_utf8(answer.data)
        texts.append(answer.get_data(as_text=True))
    return texts


def has_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# What programs print: Python strings may hold surrogate code points, alone or in pairs.
PRINTED = {
    "lone high surrogate": "'\\ud800'",
    "lone low surrogate": "'\\udfff'",
    "surrogate between letters": "'a\\udc80b'",
    "high surrogate at the end": "'ok\\udbff'",
    "pair of separate surrogates": "'\\ud83d\\ude00'",
    "surrogates and valid text": "'caf\\xe9 \\u2603 \\ud800\\udc00\\udfff'",
}


@pytest.mark.parametrize("case", PRINTED, ids=list(PRINTED))
def test_printed_surrogates_are_stored_as_valid_utf8(client: Any, case: str) -> None:
    code = f"def draw(canvas):\n    print({PRINTED[case]})\n"
    answer = client.post("/_/run", json={"code": code})
    assert answer.status_code == 200, answer.json
    assert not has_surrogates(answer.json["text"]) and answer.json["text"].endswith("\n")
    digest = answer.json["fiddleHash"]
    _, _, data, _ = assert_pages_render(client, digest)
    assert not has_surrogates(json.loads(data)["text"])
    text_output = client.get(f"/i/{digest}.txt")
    assert text_output.status_code == 200 and is_utf8(text_output.data)


def test_a_lone_surrogate_becomes_the_replacement_character(client: Any) -> None:
    code = "def draw(canvas):\n    print('x\\ud800y')\n"
    answer = client.post("/_/run", json={"code": code})
    assert answer.json["text"] == f"x{REPLACEMENT}y\n"
    text_output = client.get(f"/i/{answer.json['fiddleHash']}.txt").data
    assert text_output == f"x{REPLACEMENT}y\n".encode()
    page = client.get(f"/c/{answer.json['fiddleHash']}").get_data(as_text=True)
    assert f"x{REPLACEMENT}y" in page


@pytest.mark.parametrize("message", ["'\\ud800'", "'\\udcff x'", "'\\ud83d' * 3"])
def test_runtime_errors_with_surrogates_answer_valid_text(client: Any, message: str) -> None:
    code = f"def draw(canvas):\n    raise ValueError({message})\n"
    answer = client.post("/_/run", json={"code": code})
    assert answer.status_code == 200
    error = answer.json["runtime_error"]
    assert "ValueError" in error and REPLACEMENT in error and not has_surrogates(error)
    assert_pages_render(client, answer.json["fiddleHash"])


def test_every_text_field_of_a_runner_answer_is_cleaned() -> None:
    """Compile errors come from the runner too; no real program can put a surrogate in one (the
    code is refused first), so the runner's answer is built by hand here."""
    raw = {
        "protocol": PROTOCOL_VERSION, "run_uuid": "u", "runid": "r", "duration_ms": 1,
        "compile_errors": [{"text": "bad \ud800 token", "line": 1, "col": 2}],
        "runtime_error": "oops \udfff", "text": "\udc80",
        "outputs": {"txt.txt": "/+0=", "cpu.png": "iVBORw=="},
    }  # fmt: skip
    result = clean_result(RunResult.from_json(raw))
    assert result.compile_errors[0].text == f"bad {REPLACEMENT} token"
    assert result.compile_errors[0].line == 1 and result.compile_errors[0].col == 2
    assert result.runtime_error == f"oops {REPLACEMENT}" and result.text == REPLACEMENT
    assert result.outputs["txt.txt"] == (REPLACEMENT * 2).encode()  # from b"\xff\xed"
    assert result.outputs["cpu.png"] == b"\x89PNG"  # binary outputs are left alone


# Byte sequences that are not UTF-8, as another writer or an older version might store them.
INVALID_UTF8 = {
    "0xff": b"\xff",
    "lone continuation byte": b"\x80",
    "overlong slash": b"\xc0\xaf",
    "truncated euro sign": b"\xe2\x82",
    "encoded surrogate (CESU-8)": b"\xed\xa0\x80",
    "beyond U+10FFFF": b"\xf5\x80\x80\x80",
    "latin-1 text": "café".encode("latin-1"),
}


def test_the_text_helpers_replace_each_invalid_sequence() -> None:
    for name, bad in INVALID_UTF8.items():
        text = decode_text(b"a" + bad + b"z")
        assert text.startswith("a") and text.endswith("z") and REPLACEMENT in text, name
        assert is_utf8(valid_utf8(b"a" + bad)), name
    assert valid_utf8("snow ☃".encode()) == "snow ☃".encode()
    assert valid_text("\ud800ok\udfff") == f"{REPLACEMENT}ok{REPLACEMENT}"


def replace_object(store: BlobStore, name: str, data: bytes) -> None:
    info = store.stat(name)
    store.delete(name)
    store.write(name, data, metadata=info.metadata, content_type=info.content_type)


@pytest.mark.parametrize("case", INVALID_UTF8, ids=list(INVALID_UTF8))
def test_pages_render_stored_objects_that_are_not_utf8(app: Flask, case: str) -> None:
    client, store, bad = app.test_client(), store_of(app), INVALID_UTF8[case]
    answer = client.post("/_/run", json={"code": "def draw(canvas):\n    print('hi')\n"})
    digest, runid = answer.json["fiddleHash"], answer.json["runid"]
    code = b"def draw(canvas):\n    pass  # " + bad + b"\n"
    replace_object(store, f"fiddle/{digest}/draw.py", code)
    text = b'"bad ' + bad + b' \\ud800 text"'  # also an escaped lone surrogate
    marker = b'{"outputs": ["cpu.png", "txt.txt"], "text": ' + text + b', "source": 0}'
    replace_object(store, f"fiddle/{digest}/{runid}/run.json", marker)
    replace_object(store, f"fiddle/{digest}/{runid}/txt.txt", b"bad " + bad)
    page, iframe, _, results = assert_pages_render(client, digest)
    assert decode_text(b"pass  # " + bad) in page
    assert "bad " in iframe and REPLACEMENT in iframe
    assert "bad " in results and REPLACEMENT in results
    data = client.get(f"/e/{digest}").json
    assert data["text"].startswith("bad ") and data["text"].endswith(f" {REPLACEMENT} text")
    assert REPLACEMENT in data["code"] and not has_surrogates(data["text"] + data["code"])
    assert client.get(f"/i/{digest}.txt").status_code == 200
    cached = client.post("/_/run", json={"code": "def draw(canvas):\n    print('hi')\n"})
    assert cached.status_code == 200 and not has_surrogates(cached.json["text"])


UNREADABLE_MARKERS = {
    "not JSON": b"{not json",
    "a list": b"[1, 2]",
    "outputs not a list": b'{"outputs": "cpu.png", "text": 5}',
    "unknown outputs": b'{"outputs": ["../../secret", 7], "text": "t"}',
    "odd source": b'{"outputs": ["cpu.png"], "text": "t", "source": {"id": true}}',
    "nested deeply": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("case", UNREADABLE_MARKERS, ids=list(UNREADABLE_MARKERS))
def test_pages_render_a_run_marker_that_cannot_be_read(app: Flask, case: str) -> None:
    client, store = app.test_client(), store_of(app)
    answer = client.post("/_/run", json={"code": "def draw(canvas):\n    print('hi')\n"})
    digest, runid = answer.json["fiddleHash"], answer.json["runid"]
    replace_object(store, f"fiddle/{digest}/{runid}/run.json", UNREADABLE_MARKERS[case])
    assert_pages_render(client, digest)
    for path in (f"/i/{digest}_raster.png", f"/ai/{runid}/{digest}_raster.png"):
        assert client.get(path).status_code in (200, 404)


@pytest.mark.parametrize("options", ["{not json", "[]", '{"width": "wide"}', '{"width": null}'])
def test_pages_render_options_that_cannot_be_read(app: Flask, options: str) -> None:
    client, store = app.test_client(), store_of(app)
    answer = client.post("/_/run", json={"code": "def draw(canvas):\n    print('hi')\n"})
    digest = answer.json["fiddleHash"]
    name = f"fiddle/{digest}/draw.py"
    blob = store.read(name)
    store.delete(name)
    store.write(name, blob.data, metadata={"options": options}, content_type=blob.content_type)
    assert_pages_render(client, digest)
