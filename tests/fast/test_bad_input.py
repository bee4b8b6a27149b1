"""Bad input: a 400 or 404 with one readable sentence, nothing stored, the service still up."""

from __future__ import annotations

from typing import Any

import pytest

from functions.storage.blobstore import BlobStore

VALID_CODE = "def draw(canvas):\n    pass\n"


def stored(blobs: BlobStore) -> list[str]:
    """Every object but the built-in source images every store starts with."""
    names = [info.name for info in blobs.list("")]
    return [name for name in names if not name.startswith(("source/", "thumbnail/"))]


def assert_clear_400(answer: Any, field: str | None = None) -> None:
    assert answer.status_code == 400, answer.data
    body = answer.json
    assert isinstance(body["error"], str) and body["error"].endswith(".")
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    assert isinstance(body["fields"], dict) and body["fields"]
    if field:
        assert field in body["fields"], body["fields"]


BAD_BODIES = {
    "missing code": ({"options": {}}, "code"),
    "code not a string": ({"code": 5}, "code"),
    "empty code": ({"code": ""}, "code"),
    "width too small": ({"code": VALID_CODE, "options": {"width": 3}}, "options.width"),
    "width too large": ({"code": VALID_CODE, "options": {"width": 2049}}, "options.width"),
    "height too large": ({"code": VALID_CODE, "options": {"height": 4096}}, "options.height"),
    "width as string": ({"code": VALID_CODE, "options": {"width": "256"}}, "options.width"),
    "width as float": ({"code": VALID_CODE, "options": {"width": 256.5}}, "options.width"),
    "width as bool": ({"code": VALID_CODE, "options": {"width": True}}, "options.width"),
    "f16 without srgb": ({"code": VALID_CODE, "options": {"f16": True}}, None),
    "unknown source": ({"code": VALID_CODE, "options": {"source": 7}}, "options.source"),
    "negative source": ({"code": VALID_CODE, "options": {"source": -1}}, "options.source"),
    "code too long": ({"code": "#" * (128 * 1024 + 1)}, "code"),
    "code too long in bytes": ({"code": "é" * (64 * 1024 + 1)}, "code"),
    "NUL in code": ({"code": "def draw(c):\x00 pass"}, "code"),
    "options not an object": ({"code": VALID_CODE, "options": [1]}, "options"),
    "unknown option": ({"code": VALID_CODE, "options": {"colour": 1}}, None),
    "duration without animation too long": (
        {"code": VALID_CODE, "options": {"duration": 61.0}},
        "options.duration",
    ),
    "negative duration without animation": (
        {"code": VALID_CODE, "options": {"duration": -1}},
        "options.duration",
    ),
    "offscreen width 0": (
        {"code": VALID_CODE, "options": {"offscreen": True, "offscreen_width": 0}},
        "options.offscreen_width",
    ),
    "offscreen width as string when off": (
        {"code": VALID_CODE, "options": {"offscreen": False, "offscreen_width": "0"}},
        "options.offscreen_width",
    ),
    "offscreen mipmap without texturable": (
        {"code": VALID_CODE, "options": {"offscreen": True, "offscreen_mipmap": True}},
        "options.offscreen_mipmap",
    ),
    "duration too long": (
        {"code": VALID_CODE, "options": {"animated": True, "duration": 61.0}},
        "options.duration",
    ),
    "bad version": ({"code": VALID_CODE, "version": "../../etc"}, "version"),
    "unknown version": ({"code": VALID_CODE, "version": "1.0"}, "version"),
    "body is a list": ([1, 2], None),
    "body is a string": ("code", None),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_bad_bodies_are_rejected_and_store_nothing(
    client: Any, blobs: BlobStore, case: str
) -> None:
    body, field = BAD_BODIES[case]
    assert_clear_400(client.post("/_/run", json=body), field)
    assert stored(blobs) == []
    assert client.get("/healthz").status_code == 200


RAW_BODIES = {
    "malformed JSON": b'{"code": "def draw(c): pass"',
    "not JSON at all": b"hello",
    "JSON null": b"null",
    "non-UTF-8": b'{"code": "\xff\xfe def draw(c): pass"}',
    "empty": b"",
}


@pytest.mark.parametrize("case", RAW_BODIES, ids=list(RAW_BODIES))
def test_unparseable_bodies_are_rejected(client: Any, blobs: BlobStore, case: str) -> None:
    answer = client.post("/_/run", data=RAW_BODIES[case], content_type="application/json")
    assert_clear_400(answer)
    assert stored(blobs) == []


def test_a_huge_body_is_refused(client: Any, blobs: BlobStore) -> None:
    answer = client.post("/_/run", data=b"x" * (17 << 20), content_type="application/json")
    assert answer.status_code == 413
    assert "large" in answer.json["error"]
    assert stored(blobs) == []


UNKNOWN = "0123456789abcdef0123456789abcdef"
NOT_FOUND_PATHS = [
    f"/c/{UNKNOWN}",
    f"/iframe/{UNKNOWN}",
    f"/i/{UNKNOWN}_raster.png",
    f"/i/{UNKNOWN}.pdf",
    f"/ai/2026-10-20T09:47:00Z-144.1/{UNKNOWN}_raster.png",
    "/c/@nobody",
    "/i/@nobody_raster.png",
    "/c/ABCDEF0123456789ABCDEF0123456789",
    "/c/..%2F..%2Fetc%2Fpasswd",
    "/i/..%2F..%2Fetc%2Fpasswd",
    "/i/../../etc/passwd",
    "/i/%2e%2e/%2e%2e/blobs/x_raster.png",
    f"/ai/..%2F..%2F/{UNKNOWN}_raster.png",
    f"/ai/../{UNKNOWN}_raster.png",
    f"/ai/x/../../{UNKNOWN}.pdf",
    f"/i/{UNKNOWN}_raster.png%00.txt",
    f"/i/{UNKNOWN}.exe",
    f"/i/{UNKNOWN}_draw.py",
    "/i/_raster.png",
    "/c/" + "a" * 5000,
    "/c/@../named/x",
]


@pytest.mark.parametrize("path", NOT_FOUND_PATHS)
def test_unknown_and_tricky_paths_are_404(client: Any, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert b"Traceback" not in answer.data


def test_json_paths_answer_404_as_json(client: Any) -> None:
    answer = client.get(f"/e/{UNKNOWN}")
    assert answer.status_code == 404 and answer.json == {
        "error": "There is nothing at this address.",
        "fields": {},
    }


def test_stored_code_is_not_reachable_through_output_routes(client: Any) -> None:
    digest = client.post("/_/run", json={"code": VALID_CODE}).json["fiddleHash"]
    runid = client.get(f"/e/{digest}").json["runid"]
    assert client.get(f"/ai/{runid}/{digest}_draw.py").status_code == 404
    assert client.get(f"/ai/{runid}/../{digest}.txt").status_code == 404
