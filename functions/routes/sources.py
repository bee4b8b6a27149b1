"""POST /_/upload, the list of source images and GET /s/<id> (with ?size= thumbnails)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request

from functions.clients import client_keys
from functions.errors import InvalidInput
from functions.guards import require_user
from functions.inputs import SOURCE_ID, query_choice
from functions.ratelimits import limit
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services
from functions.sources import THUMBNAIL_SIZES, UPLOAD_FIELD

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


@upload_blueprint.post("/_/upload")
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
def source_image(source_id: int) -> Any:
    """A source image as a normalised PNG, or with `?size=64`, `128` or `256` its thumbnail; ids
    1 to 6 are built in."""
    size = query_choice("size", {str(size): size for size in THUMBNAIL_SIZES})
    sources = services().sources
    data = sources.image(source_id) if size is None else sources.thumbnail(source_id, size)
    if data is None:
        abort(404)
    response = Response(data, content_type="image/png")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
