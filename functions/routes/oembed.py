"""oEmbed (https://oembed.com) for fiddle pages, so documentation tools can embed them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, request
from markupsafe import escape

from functions.fiddles import FiddleRepository

blueprint = Blueprint("oembed", __name__)
FIDDLE_PATH = re.compile(r"/(?:c|iframe)/(@?[0-9A-Za-z_]{1,128})")


@blueprint.get("/oembed")
def oembed() -> Any:
    if request.args.get("format", "json") != "json":
        abort(501, "Only the json format is supported.")
    reference = _reference(request.args.get("url", ""), request.host)
    fiddles: FiddleRepository = current_app.extensions["fiddles"]
    digest = fiddles.resolve(reference) if reference else None
    fiddle = fiddles.load(digest) if digest else None
    if fiddle is None:
        abort(404)
    width, height = fiddle.options.width + 16, fiddle.options.height + 48
    src = f"{request.host_url.rstrip('/')}/iframe/{reference}"
    html = (
        f'<iframe src="{escape(src)}" width="{width}" height="{height}" '
        f'style="border:0" title="Skia fiddle {escape(reference)}" loading="lazy"></iframe>'
    )
    response = jsonify(
        version="1.0",
        type="rich",
        provider_name="Skia Fiddle for Python",
        provider_url=request.host_url,
        title=f"Fiddle {reference}",
        html=html,
        width=width,
        height=height,
    )
    return response


def _reference(url: str, host: str) -> str | None:
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != host:
        return None  # only this service's own fiddles
    match = FIDDLE_PATH.fullmatch(parts.path)
    return match.group(1) if match else None
