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
    user = require_user()
    uploaded = request.files.get(UPLOAD_FIELD)
    if uploaded is None:
        message = f"Send the image in a multipart field named {UPLOAD_FIELD}."
        raise InvalidInput.about(UPLOAD_FIELD, message)
    source_id = services().sources.upload(uploaded.read(), user, client_keys())
    return jsonify(id=source_id, url=f"/s/{source_id}")


@blueprint.get("/_/sources")
def source_list() -> Any:
    """Every source image, for the editor's source picker."""
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
    size = query_choice("size", {str(size): size for size in THUMBNAIL_SIZES})
    sources = services().sources
    data = sources.image(source_id) if size is None else sources.thumbnail(source_id, size)
    if data is None:
        abort(404)
    response = Response(data, content_type="image/png")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
