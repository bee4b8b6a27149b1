"""Accounts, named fiddles, source images, admin deletion, embeds and rate limits (issue 4),
against the runner's drawing code in process (tests/fast/fakes.py) and the memory blob store."""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import skia
from flask import Flask

from fiddle_protocol.options import FiddleOptions
from functions.hashing import skia_hash
from functions.services import services
from functions.storage.blobstore import BlobStore
from tests.fast.conftest import MakeApp
from tests.helpers import (
    GENEROUS,
    USES_IMAGE,
    bearer,
    csrf_of,
    png_bytes,
    purged,
    sign_in,
    upload,
)

DRAW = "def draw(canvas):\n    canvas.drawCircle(20, 20, 10, skia.Paint(Color=skia.ColorGREEN))\n"


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    # Generous limits: these tests send many requests from one address, some all at once.
    application = make_app(rate_limits=GENEROUS, runs_in_flight_per_client=0)
    accounts = services(application).accounts
    accounts.create_user("alice", "alice-password")
    accounts.create_user("bob", "bob-password")
    accounts.create_user("root", "root-password", admin=True)
    return application


def run(client: Any, code: str = DRAW, **options: Any) -> str:
    answer = client.post("/_/run", json={"code": code, "options": options})
    assert answer.status_code == 200, answer.json
    assert answer.json["runtime_error"] == "", answer.json
    return str(answer.json["fiddleHash"])


def objects(blobs: BlobStore, prefix: str = "") -> set[str]:
    return {info.name for info in blobs.list(prefix)}


# --- accounts and sign-in -------------------------------------------------------------------


def test_sign_in_and_out(app: Flask) -> None:
    client = app.test_client()
    assert sign_in(client, "alice", "wrong-password").status_code == 401
    assert sign_in(client, "alice", "alice-password").status_code == 303
    assert b"alice" in client.get("/named/").data
    client.post("/signout", data={"csrf_token": csrf_of(client)})
    assert client.post("/_/name", json={"name": "x", "hash": "0" * 32}).status_code == 401


def test_sign_in_without_csrf_is_refused(app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/signin", data={"name": "alice", "password": "alice-password"})
    assert answer.status_code == 403


def test_session_requests_need_a_csrf_token(app: Flask) -> None:
    client = app.test_client()
    sign_in(client, "alice", "alice-password")
    digest = run(client)
    body = {"name": "csrf_check", "hash": digest}
    assert client.post("/_/name", json=body).status_code == 403
    answer = client.post("/_/name", json=body, headers={"X-CSRF-Token": csrf_of(client)})
    assert answer.status_code == 200


def test_passwords_are_hashed(app: Flask) -> None:
    document = services(app).documents.get("users", "alice")
    assert "alice-password" not in str(document.data)
    assert document.data["password"].startswith("$argon2")


# --- named fiddles ---------------------------------------------------------------------------


def test_anonymous_naming_and_upload_are_401(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/_/name", json={"name": "n", "hash": "0" * 32}).status_code == 401
    assert upload(client, {}, png_bytes()).status_code == 401


def test_named_fiddle_works_everywhere(app: Flask, blobs: BlobStore) -> None:
    client = app.test_client()
    digest = run(client)
    answer = client.post(
        "/_/name", json={"name": "green_dot", "hash": digest}, headers=bearer(app, "alice")
    )
    assert answer.status_code == 200 and answer.json["url"] == "/c/@green_dot"
    blob = blobs.read("named/green_dot")
    assert blob.data.decode() == digest and blob.metadata["creator"] == "alice"
    assert client.get("/c/@green_dot").status_code == 200
    assert client.get("/iframe/@green_dot").status_code == 200
    assert client.get("/e/@green_dot").json["fiddleHash"] == digest
    assert client.get("/i/@green_dot_raster.png").data == client.get(f"/i/{digest}_raster.png").data
    assert b"@green_dot" in client.get("/named/").data


def test_naming_by_the_skia_form_of_the_hash_names_the_canonical_one(
    app: Flask, blobs: BlobStore
) -> None:
    client = app.test_client()
    digest = run(client)
    other = skia_hash(DRAW, FiddleOptions())
    assert other != digest
    answer = client.post(
        "/_/name", json={"name": "by_skia", "hash": other}, headers=bearer(app, "alice")
    )
    assert answer.status_code == 200
    assert blobs.read("named/by_skia").data.decode() == digest
    assert client.get("/e/@by_skia").json["fiddleHash"] == digest
    # An alias of nothing is still no fiddle.
    missing = skia_hash(DRAW + "# never run\n", FiddleOptions())
    refused = client.post(
        "/_/name", json={"name": "nothing", "hash": missing}, headers=bearer(app, "alice")
    )
    assert refused.status_code == 404 and not objects(blobs, "named/nothing")


@pytest.mark.parametrize(
    "body, status",
    [
        ({"name": "has space", "hash": "0" * 32}, 400),
        ({"name": "../x", "hash": "0" * 32}, 400),
        ({"name": "", "hash": "0" * 32}, 400),
        ({"name": "ok", "hash": "XYZ"}, 400),
        ({"name": 5, "hash": "0" * 32}, 400),
        ({"name": "ok", "hash": "0" * 32}, 404),
        ({"name": "ok", "hash": "0" * 32, "overwrite": "yes"}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_names_are_rejected(app: Flask, blobs: BlobStore, body: Any, status: int) -> None:
    answer = app.test_client().post("/_/name", json=body, headers=bearer(app, "alice"))
    assert answer.status_code == status
    assert answer.json["error"].endswith(".")
    assert not objects(blobs, "named/")


def test_overwriting_is_for_the_creator_and_admins(app: Flask) -> None:
    client = app.test_client()
    first, second = run(client), run(client, DRAW + "# two\n")
    alice, bob, root = bearer(app, "alice"), bearer(app, "bob"), bearer(app, "root")
    assert (
        client.post("/_/name", json={"name": "n1", "hash": first}, headers=alice).status_code == 200
    )
    assert (
        client.post("/_/name", json={"name": "n1", "hash": second}, headers=bob).status_code == 409
    )
    taken = {"name": "n1", "hash": second, "overwrite": True}
    assert client.post("/_/name", json=taken, headers=bob).status_code == 403
    assert client.post("/_/name", json=taken, headers=alice).status_code == 200
    assert client.get("/e/@n1").json["fiddleHash"] == second
    back = {"name": "n1", "hash": first, "overwrite": True}
    assert client.post("/_/name", json=back, headers=root).status_code == 200


def test_concurrent_creations_of_one_name_have_one_winner(app: Flask) -> None:
    digest = run(app.test_client())
    headers = bearer(app, "alice")

    def create(_: int) -> int:
        client = app.test_client()
        return int(
            client.post(
                "/_/name", json={"name": "race", "hash": digest}, headers=headers
            ).status_code
        )

    with ThreadPoolExecutor(16) as pool:
        statuses = sorted(pool.map(create, range(16)))
    assert statuses == [200] + [409] * 15


# --- source images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, name", [(skia.kPNG, "a.png"), (skia.kJPEG, "a.jpg"), (skia.kWEBP, "a.webp")]
)
def test_upload_formats_and_thumbnails(app: Flask, kind: Any, name: str) -> None:
    client = app.test_client()
    answer = upload(client, bearer(app, "alice"), png_bytes(300, 150, kind), name)
    assert answer.status_code == 200, answer.json
    source_id = answer.json["id"]
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(client.get(f"/s/{source_id}").data))
    assert (image.width(), image.height()) == (300, 150)
    thumb = skia.Image.MakeFromEncoded(
        skia.Data.MakeWithCopy(client.get(f"/s/{source_id}?size=64").data)
    )
    assert max(thumb.width(), thumb.height()) == 64
    assert client.get(f"/s/{source_id}?size=65").status_code == 400


def test_gif_upload(app: Flask) -> None:
    gif = bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
    )
    assert upload(app.test_client(), bearer(app, "alice"), gif, "a.gif").status_code == 200


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming huge dimensions over a tiny payload: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 10000, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


BAD_UPLOADS = {
    "not an image": (b"hello, world", 400),
    "truncated": (png_bytes(200, 200)[:300], 400),
    "too wide": (png_header_only(5000, 10), 400),
    "decompression bomb": (png_header_only(60000, 60000), 400),
    "over 10 MiB": (b"\x89PNG" + b"\x00" * (10 << 20), 413),
    "empty": (b"", 400),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_uploads_store_nothing_and_use_no_id(app: Flask, blobs: BlobStore, case: str) -> None:
    client, headers = app.test_client(), bearer(app, "alice")
    data, status = BAD_UPLOADS[case]
    before = objects(blobs, "source/") | objects(blobs, "thumbnail/")
    answer = upload(client, headers, data)
    assert answer.status_code == status
    assert answer.json["error"].endswith(".") and "Traceback" not in answer.json["error"]
    assert objects(blobs, "source/") | objects(blobs, "thumbnail/") == before
    # The first upload after the six built-in images.
    assert upload(client, headers, png_bytes()).json["id"] == 7


def test_upload_without_the_field_is_400(app: Flask) -> None:
    answer = app.test_client().post("/_/upload", data={"other": "x"}, headers=bearer(app, "alice"))
    assert answer.status_code == 400 and "upload" in answer.json["error"]


def test_concurrent_uploads_get_distinct_ids_without_gaps(app: Flask) -> None:
    headers, data = bearer(app, "alice"), png_bytes()

    def send(_: int) -> int:
        answer = upload(app.test_client(), headers, data)
        assert answer.status_code == 200, answer.json
        return int(answer.json["id"])

    with ThreadPoolExecutor(32) as pool:
        ids = sorted(pool.map(send, range(32)))
    assert ids == list(range(7, 39))


def test_a_fiddle_sees_its_source_image(app: Flask) -> None:
    client = app.test_client()
    source_id = upload(client, bearer(app, "alice"), png_bytes(40, 30)).json["id"]
    answer = client.post("/_/run", json={"code": USES_IMAGE, "options": {"source": source_id}})
    assert answer.json["runtime_error"] == "" and answer.json["text"] == "40 30\n"


# --- admin ------------------------------------------------------------------------------------


def test_deleting_a_source_removes_exactly_its_outputs(app: Flask, blobs: BlobStore) -> None:
    client, alice, root = app.test_client(), bearer(app, "alice"), bearer(app, "root")
    first = upload(client, alice, png_bytes(40, 30)).json["id"]
    second = upload(client, alice, png_bytes(50, 30)).json["id"]
    uses_first = [run(client, USES_IMAGE + f"# {i}\n", source=first) for i in range(2)]
    uses_second = run(client, USES_IMAGE, source=second)
    plain = run(client)
    before = objects(blobs)
    assert client.delete(f"/_/source/{first}", headers=alice).status_code == 403
    answer = client.delete(f"/_/source/{first}", headers=root)
    assert sorted(answer.json["fiddles"]) == sorted(uses_first)
    # At once: the image, its thumbnails and its listing are gone, nothing of it is shown.
    assert before - objects(blobs) == {f"source/{first}"} | {
        n for n in before if n.startswith(f"thumbnail/{first}/")
    }
    assert first not in [s["id"] for s in client.get("/_/sources").json["sources"]]
    assert all(client.get(f"/i/{h}_raster.png").status_code == 404 for h in uses_first)
    job = purged(app, answer)
    assert job["kind"] == "purge-source" and job["params"]["source"] == first
    assert job["progress"] == {"done": 2, "total": 2, "failures": 0, "counts": {"ok": 2}}
    removed = before - objects(blobs)
    runs_of_first = {n for n in before if n.startswith(tuple(f"fiddle/{h}/2" for h in uses_first))}
    markers = {n for n in runs_of_first if n.endswith("/run.json")}
    expected = runs_of_first - markers
    expected |= {f"source/{first}"} | {n for n in before if n.startswith(f"thumbnail/{first}/")}
    assert removed == expected
    # Each run's marker stays, replaced by a withdrawal marker that no later commit can replace.
    store = blobs
    assert len(markers) == 2 and all("withdrawn" in store.stat(n).metadata for n in markers)
    for digest in uses_first:
        assert f"fiddle/{digest}/draw.py" in objects(blobs)
        assert client.get(f"/i/{digest}_raster.png").status_code == 404
        assert b"source image" in client.get(f"/c/{digest}").data.lower()
    for digest in (uses_second, plain):
        assert client.get(f"/i/{digest}_raster.png").status_code == 200
    assert client.get(f"/s/{first}").status_code == 404
    assert client.delete(f"/_/source/{first}", headers=root).status_code == 404


def test_admin_pages_and_audit_log(app: Flask) -> None:
    client = app.test_client()
    source_id = upload(client, bearer(app, "alice"), png_bytes()).json["id"]
    assert client.get("/admin/sources").status_code == 401
    sign_in(client, "bob", "bob-password")
    assert client.get("/admin/sources").status_code == 403
    client.post("/signout", data={"csrf_token": csrf_of(client)})
    sign_in(client, "root", "root-password")
    page = client.get("/admin/sources").get_data(as_text=True)
    assert f"/s/{source_id}?size=64" in page
    assert client.post(f"/admin/sources/{source_id}/delete").status_code == 403
    answer = client.post(f"/admin/sources/{source_id}/delete", data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 303
    job_id = answer.headers["Location"].rpartition("job=")[2]
    assert answer.headers["Location"] == f"/admin/sources?deleted={source_id}&job={job_id}"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f'Deleted source image {source_id}; job <a href="/admin/jobs">{job_id}</a>' in page
    assert f"/s/{source_id}?size=64" not in page
    assert client.get("/admin/sources?job=nonsense").status_code == 200
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "delete_source" in audit and "root" in audit


def test_admin_deletes_a_named_fiddle(app: Flask, blobs: BlobStore) -> None:
    client, root = app.test_client(), bearer(app, "root")
    digest = run(client)
    client.post("/_/name", json={"name": "doomed", "hash": digest}, headers=bearer(app, "alice"))
    assert client.delete("/_/named/doomed", headers=bearer(app, "bob")).status_code == 403
    assert client.delete("/_/named/doomed", headers=root).status_code == 200
    assert client.get("/c/@doomed").status_code == 404
    assert "named/doomed" not in objects(blobs)
    assert client.delete("/_/named/doomed", headers=root).status_code == 404
    assert "delete_named" in client.get("/admin/audit", headers=root).get_data(as_text=True)


# --- embeds and rate limits ------------------------------------------------------------------


def test_embed_headers_and_oembed(app: Flask) -> None:
    client = app.test_client()
    digest = run(client)
    assert client.get(f"/c/{digest}").headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in client.get(f"/c/{digest}").headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in client.get(f"/iframe/{digest}").headers
    assert client.get(f"/e/{digest}").headers["Access-Control-Allow-Origin"] == "*"
    answer = client.get(f"/oembed?url=http://localhost/c/{digest}&format=json")
    assert answer.status_code == 200 and answer.json["type"] == "rich"
    assert f"/iframe/{digest}" in answer.json["html"]
    assert client.get(f"/oembed?url=http://localhost/c/{digest}&format=xml").status_code == 501
    assert client.get("/oembed?url=http://localhost/c/" + "0" * 32).status_code == 404
    assert client.get(f"/oembed?url=http://elsewhere.example/c/{digest}").status_code == 404


def test_runs_are_rate_limited(make_app: MakeApp) -> None:
    client = make_app(rate_limits={"run": "3/minute"}).test_client()
    statuses = [client.post("/_/run", json={"code": DRAW}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = client.post("/_/run", json={"code": DRAW})
    assert int(answer.headers["Retry-After"]) > 0 and "Too many" in answer.json["error"]


def test_sources_are_listed_for_the_picker(app: Flask) -> None:
    client = app.test_client()
    first = upload(client, bearer(app, "alice"), png_bytes()).json["id"]
    listing = client.get("/_/sources").json["sources"]
    assert [source["id"] for source in listing] == [1, 2, 3, 4, 5, 6, first]
    assert listing[0] == {
        "id": 1, "url": "/s/1", "thumbnail": "/s/1?size=64", "name": "Blue blob", "builtin": True,
    }  # fmt: skip
    assert listing[-1] == {
        "id": first,
        "url": f"/s/{first}",
        "thumbnail": f"/s/{first}?size=64",
        "name": f"Image {first}",
        "builtin": False,
    }


def test_outputs_may_be_framed_by_this_site_only(app: Flask) -> None:
    client = app.test_client()
    digest = run(client)
    headers = client.get(f"/i/{digest}.pdf").headers
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]
