"""POST /_/upload, the list of source images and GET /s/<id> (with ?size= thumbnails)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request

from functions.api_schemas import SourceListSchema, UploadAnswerSchema
from functions.apidoc import Answer, Body, Link, Query, documented
from functions.clients import client_keys
from functions.errors import InvalidInput
from functions.guards import require_user
from functions.inputs import SOURCE_ID, query_choice
from functions.ratelimits import limit
from functions.responsecache import replayable
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services
from functions.sources import THUMBNAIL_SIZES, UPLOAD_FIELD, source_tag

upload_blueprint = FiddleBlueprint(
    "upload",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="upload",
        paths=("/_/upload",),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)
# Read by anyone, from any origin: the editor's source picker and the images themselves.
blueprint = FiddleBlueprint(
    "sources",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/_/sources", "/s/*"),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
        image_paths=("/s/*",),
    ),
)


UPLOAD_FORM = {
    "type": "object",
    "required": [UPLOAD_FIELD],
    "properties": {UPLOAD_FIELD: {"type": "string", "contentMediaType": "image/*",
                                  "description": "A PNG, JPEG, GIF, WebP or BMP image."}},
}  # fmt: skip
# How long this process replays a source image from memory: an admin may delete it in another.
SOURCE_REPLAY_SECONDS = 2.0
SOURCE = ("A source image's id.", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})


@upload_blueprint.post("/_/upload")
@documented(
    "Upload a source image for fiddles to draw",
    Answer(
        200,
        "Stored: the new image's id.",
        UploadAnswerSchema,
        links=(
            Link("Image", "sources.source_image", {"source_id": "$response.body#/id"}),
            Link("Delete", "admin_api.delete_source_json", {"source_id": "$response.body#/id"}),
        ),
    ),
    errors=(400, 401, 403, 413, 429, 503),
    body=Body("multipart/form-data", UPLOAD_FORM),
    security="Signed-in users only.",
)
@limit("upload")
def upload() -> Any:
    """Upload a source image, signed in: the multipart field `upload` (PNG, JPEG, WebP or GIF,
    at most 10 MiB and 4096x4096) -> `{"id", "url"}`. It is decoded in a sandbox and stored as a
    normalised PNG with its thumbnails."""
    user = require_user()
    uploaded = request.files.get(UPLOAD_FIELD)
    if uploaded is None:
        message = f"Send the image in a multipart field named {UPLOAD_FIELD}."
        raise InvalidInput.about(UPLOAD_FIELD, message)
    source_id = services().sources.upload(uploaded.read(), user, client_keys())
    return jsonify(id=source_id, url=f"/s/{source_id}")


@blueprint.get("/_/sources")
@documented("Every source image", Answer(200, "Their ids and URLs.", SourceListSchema))
def source_list() -> Any:
    """Every source image, for the editor's source picker: `{"sources": [{"id", "url",
    "thumbnail", "name", "builtin"}]}`."""
    images = [
        {
            "id": image.id,
            "url": f"/s/{image.id}",
            "thumbnail": f"/s/{image.id}?size=64",
            "name": image.name,
            "builtin": image.builtin,
        }
        for image in services().sources.all()
    ]
    response = jsonify(sources=images)
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get(f"/s/<{SOURCE_ID}:source_id>")
@documented(
    "A source image, or one of its thumbnails",
    Answer(200, "The image as PNG.", media_type="image/png", headers=("Cache-Control",)),
    errors=(400, 404),
    path={"source_id": SOURCE},
    query=(Query("size", "A thumbnail of this many pixels.",
                 {"type": "string", "enum": [str(size) for size in THUMBNAIL_SIZES]}),),
)  # fmt: skip
def source_image(source_id: int) -> Any:
    """A source image as a normalised PNG, or with `?size=64`, `128` or `256` its thumbnail; ids
    1 to 6 are built in."""
    size = query_choice("size", {str(size): size for size in THUMBNAIL_SIZES})
    sources = services().sources
    data = sources.image(source_id) if size is None else sources.thumbnail(source_id, size)
    if data is None:
        abort(404)
    response = Response(data, content_type="image/png")
    # An admin can take an upload down: browsers may keep it a while, shared caches (the CDN) not.
    response.headers["Cache-Control"] = "private, max-age=300"
    # This process replays it for seconds only, and forgets it the moment it deletes the image.
    replayable(SOURCE_REPLAY_SECONDS, source_tag(source_id))
    return response
