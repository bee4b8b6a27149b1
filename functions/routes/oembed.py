"""oEmbed (https://oembed.com) for fiddle pages, so documentation tools can embed them.

The url must be a fiddle page at this service's public origin (FIDDLE_PUBLIC_URL, or the
request's own host when that is unset); the answer's addresses are built from that origin, never
from the url or the Host header.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

from flask import abort, jsonify, request
from markupsafe import escape

from functions.api_schemas import OEmbedSchema
from functions.apidoc import Answer, Query, documented
from functions.errors import InvalidInput, NotFound
from functions.links import public_base_url
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

blueprint = FiddleBlueprint(
    "oembed",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/oembed",),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
    ),
)
FIDDLE_PATH = re.compile(r"/(?:c|iframe)/(@?[0-9A-Za-z_]{1,128})")
MAX_URL_LENGTH = 2048
NOT_OURS = "That url is not a fiddle page of this service."
# oEmbed's formats: json is served; xml is one oEmbed defines and this service does not offer,
# which oEmbed answers with 501 (https://oembed.com, section 2.3.4). Anything else is no format.
SERVED_FORMAT, UNOFFERED_FORMATS = "json", ("xml",)


@blueprint.get("/oembed")
@documented(
    "oEmbed (https://oembed.com) of a fiddle page",
    Answer(200, "The embed: an iframe of /iframe/<hash>.", OEmbedSchema),
    errors=(400, 404, 501),
    query=(
        Query("url", "A fiddle page of this service (/c/<hash> or /iframe/<hash>).",
              {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH}, required=True),
        Query("format", "json (xml, which oEmbed defines, answers 501).",
              {"type": "string", "enum": [SERVED_FORMAT]}),
    ),
)  # fmt: skip
def oembed() -> Any:
    """oEmbed JSON (type `rich`: an iframe of the fiddle) for `?url=` a /c/ or /iframe/ page at
    this service's public origin; `format` is json or absent (else 501)."""
    _check_format(request.args.get("format", SERVED_FORMAT))
    base = public_base_url()
    reference = _reference(request.args.get("url", ""), base)
    fiddles = services().fiddles
    found = fiddles.lookup(reference, fiddles.load)
    if found is None:
        raise NotFound("There is no fiddle at that url.")
    fiddle = found[1]
    width, height = fiddle.options.width + 16, fiddle.options.height + 48
    src = f"{base}/iframe/{reference}"
    html = (
        f'<iframe src="{escape(src)}" width="{width}" height="{height}" '
        f'style="border:0" title="Skia fiddle {escape(reference)}" loading="lazy"></iframe>'
    )
    return jsonify(
        version="1.0",
        type="rich",
        provider_name="Skia Fiddle for Python",
        provider_url=f"{base}/",
        title=f"Fiddle {reference}",
        html=html,
        width=width,
        height=height,
    )


def _check_format(name: str) -> None:
    if name in UNOFFERED_FORMATS:
        abort(501, "Only the json format is supported.")
    if name != SERVED_FORMAT:
        raise InvalidInput.about("format", "format must be json.")


def _reference(url: str, base: str) -> str:
    """The fiddle reference (hash or @name) in url; InvalidInput or NotFound for anything else."""
    parts = _parse(url)
    match = FIDDLE_PATH.fullmatch(parts.path)
    if not _same_site(parts, urlsplit(base)) or not match:
        raise NotFound(NOT_OURS)
    return match.group(1)


def _parse(url: str) -> SplitResult:
    if not url:
        raise InvalidInput("The url parameter is required.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"The url parameter is longer than {MAX_URL_LENGTH} characters.")
    if not url.isprintable() or not url.isascii() or " " in url:
        raise InvalidInput("The url parameter may hold only printable ASCII without spaces.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput("The url parameter is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("The url parameter must be an http or https address.")
    return parts


def _same_site(parts: SplitResult, origin: SplitResult) -> bool:
    """The same host and port (a default port counts as none, whether written or not)."""
    return bool(parts.hostname) and _authority(parts) == _authority(origin)


def _authority(parts: SplitResult) -> tuple[str | None, int | None]:
    try:
        port = parts.port
    except ValueError:
        return None, -1  # a Host header with a bad port matches nothing
    return parts.hostname, None if port in (80, 443) else port
