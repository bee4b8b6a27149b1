"""The six built-in source images (issue 18): drawn by the project's own script, committed, present
on a fresh service before any upload, served with thumbnails, and never deleted by an admin.
Seeding on each blob-store backend (races included) is in tests/test_blobstore_contract.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import skia
from flask import Flask

from functions.builtin_sources import (
    BUILTIN_SOURCES,
    DIRECTORY,
    LAST_BUILTIN_ID,
    image_path,
    thumbnail_path,
)
from functions.services import services
from functions.storage.blobstore import BlobStore
from tests.fast.conftest import MakeApp
from tests.helpers import GENEROUS, bearer, png_bytes, upload

ROOT = Path(__file__).resolve().parents[2]
THUMBNAIL_SIZES = (64, 128, 256)


def decode(data: bytes) -> Any:
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(data))
    assert image is not None, "not a decodable image"
    return image


def pixels(image: Any) -> bytes:
    info = skia.ImageInfo.Make(
        image.width(), image.height(), skia.kRGBA_8888_ColorType, skia.kUnpremul_AlphaType
    )
    buffer = bytearray(info.computeMinByteSize())
    assert image.readPixels(info, buffer, info.minRowBytes())
    return bytes(buffer)


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    scale = min(size / width, size / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def test_the_committed_images_are_what_the_script_draws(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "draw_builtin_sources", ROOT / "scripts" / "draw_builtin_sources.py"
    )
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.write_all(tmp_path)
    committed = sorted(path.name for path in DIRECTORY.glob("*.png"))
    assert committed == sorted(path.name for path in tmp_path.glob("*.png"))
    assert len(committed) == len(BUILTIN_SOURCES) * (1 + len(THUMBNAIL_SIZES))
    for name in committed:
        drawn, kept = (
            decode((tmp_path / name).read_bytes()),
            decode((DIRECTORY / name).read_bytes()),
        )
        assert pixels(drawn) == pixels(kept), f"{name}: run scripts/draw_builtin_sources.py"


@pytest.mark.parametrize("source", BUILTIN_SOURCES, ids=[s.name for s in BUILTIN_SOURCES])
def test_sizes_as_skias_and_thumbnails_as_uploads(source: Any) -> None:
    image = decode(image_path(source.id).read_bytes())
    assert (image.width(), image.height()) == (source.width, source.height)
    for size in THUMBNAIL_SIZES:
        thumb = decode(thumbnail_path(source.id, size).read_bytes())
        assert (thumb.width(), thumb.height()) == fitted(source.width, source.height, size)


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    application = make_app(rate_limits=GENEROUS)
    accounts = services(application).accounts
    accounts.create_user("alice", "alice-password")
    accounts.create_user("root", "root-password", admin=True)
    return application


def test_a_fresh_service_serves_them_before_any_upload(app: Flask) -> None:
    client = app.test_client()
    for source in BUILTIN_SOURCES:
        full = client.get(f"/s/{source.id}")
        assert full.status_code == 200 and full.headers["Content-Type"] == "image/png"
        assert full.data == image_path(source.id).read_bytes()
        for size in THUMBNAIL_SIZES:
            thumb = decode(client.get(f"/s/{source.id}?size={size}").data)
            assert (thumb.width(), thumb.height()) == fitted(source.width, source.height, size)
    listing = client.get("/_/sources").json["sources"]
    assert [(s["id"], s["name"], s["builtin"]) for s in listing] == [
        (s.id, s.name, True) for s in BUILTIN_SOURCES
    ]
    assert upload(client, bearer(app, "alice"), png_bytes()).json["id"] == LAST_BUILTIN_ID + 1


def test_skias_default_request_with_source_1_runs(app: Flask) -> None:
    code = "def draw(canvas):\n    canvas.drawImage(image, 0, 0)\n    print(image.width())\n"
    answer = app.test_client().post("/_/run", json={"code": code, "options": {"source": 1}})
    assert answer.status_code == 200 and answer.json["runtime_error"] == ""
    assert answer.json["text"] == "256\n"


def test_restarting_the_service_rewrites_nothing(
    app: Flask, make_app: MakeApp, blobs: BlobStore
) -> None:
    before = {info.name: info.generation for info in blobs.list("")}
    make_app()  # another instance over the same stores
    assert {info.name: info.generation for info in blobs.list("")} == before


@pytest.mark.parametrize("source_id", [s.id for s in BUILTIN_SOURCES])
def test_admins_cannot_delete_a_builtin_image(app: Flask, blobs: BlobStore, source_id: int) -> None:
    client, root = app.test_client(), bearer(app, "root")
    store = blobs
    before = {info.name: info.generation for info in store.list("")}
    answer = client.delete(f"/_/source/{source_id}", headers=root)
    assert answer.status_code == 409
    assert answer.json["error"] == f"Source image {source_id} is built in and cannot be deleted."
    page = client.post(f"/admin/sources/{source_id}/delete", headers=root)
    assert page.status_code == 409 and b"is built in and cannot be deleted" in page.data
    assert {info.name: info.generation for info in store.list("")} == before
    assert client.get(f"/s/{source_id}").status_code == 200
    assert not [e for e in services(app).audit.newest() if e.action == "delete_source"]


def test_the_admin_page_offers_no_delete_button_for_builtins(app: Flask) -> None:
    client, root = app.test_client(), bearer(app, "root")
    uploaded = upload(client, bearer(app, "alice"), png_bytes()).json["id"]
    page = client.get("/admin/sources", headers=root).data.decode()
    assert "built in (Blue blob)" in page
    assert 'action="/admin/sources/1/delete"' not in page
    assert f'action="/admin/sources/{uploaded}/delete"' in page
