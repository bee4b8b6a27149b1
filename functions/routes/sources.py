"""POST /_/upload and GET /s/<id> (with ?size= thumbnails)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from functions.clients import client_keys
from functions.guards import require_user
from functions.inputs import SOURCE_ID, query_choice
from functions.ratelimits import limit
from functions.runner_client import RunnerUnavailable
from functions.sources import THUMBNAIL_SIZES, SourceImages, UploadRejected

blueprint = Blueprint("sources", __name__)


def _sources() -> SourceImages:
    return current_app.extensions["sources"]


@blueprint.post("/_/upload")
@limit("upload")
def upload() -> Any:
    user = require_user()
    uploaded = request.files.get("upload")
    if uploaded is None:
        return _error("Send the image in a multipart field named upload.", 400)
    try:
        source_id = _sources().upload(uploaded.read(), user, client_keys())
    except UploadRejected as rejected:
        return _error(rejected.message, rejected.status)
    except RunnerUnavailable as error:
        response = jsonify(error="No runner is available to check the image; try again shortly.")
        response.headers["Retry-After"] = str(error.retry_after)
        return response, 503
    return jsonify(id=source_id, url=f"/s/{source_id}")


def _error(message: str, status: int) -> Any:
    return jsonify(error=message, fields={"upload": [message]}), status


@blueprint.get("/_/sources")
def source_list() -> Any:
    """Every source image, for the editor's source picker."""
    images = [
        {"id": image.id, "url": f"/s/{image.id}", "thumbnail": f"/s/{image.id}?size=64"}
        for image in _sources().all()
    ]
    response = jsonify(sources=images)
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get(f"/s/<{SOURCE_ID}:source_id>")
def source_image(source_id: int) -> Any:
    size = query_choice("size", {str(size): size for size in THUMBNAIL_SIZES})
    sources = _sources()
    data = sources.image(source_id) if size is None else sources.thumbnail(source_id, size)
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
