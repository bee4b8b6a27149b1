"""Addresses the service hands out: where a redirect may lead, and its own public base URL.

Nothing here trusts the request's Host header when FIDDLE_PUBLIC_URL is set: a forged Host would
otherwise end up in share links, embed snippets and oEmbed answers (and in any cache in front).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import Response, request

from functions.config import Settings
from functions.services import services

log = logging.getLogger(__name__)
# Longer redirect targets are refused: no page of this service has an address this long.
MAX_TARGET_LENGTH = 2048


def same_site_path(target: object) -> str:
    """target if it is a path on this site, else "/": an open redirect lets others borrow the
    sign-in page to send people anywhere."""
    if isinstance(target, str) and _is_same_site_path(target):
        return target
    return "/"


def _is_same_site_path(target: str) -> bool:
    if len(target) > MAX_TARGET_LENGTH:
        return False
    # Browsers drop tabs and newlines, read "\" as "/" and some agents and proxies decode
    # percent-escapes before they parse; so the target and every decoding of it must be a plain
    # path. Each decoding shortens the text, so the loop ends.
    while True:
        if not _is_plain_path(target):
            return False
        decoded = unquote(target)
        if decoded == target:
            return True
        target = decoded


def _is_plain_path(text: str) -> bool:
    # Printable ASCII without spaces: no control characters, whitespace or Unicode look-alikes.
    if not all(33 <= ord(char) < 127 for char in text) or "\\" in text:
        return False
    if not text.startswith("/") or text.startswith("//"):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


def public_base_url() -> str:
    """This service's address without a trailing slash, for links other people will open."""
    configured = services().settings.public_url
    return configured.rstrip("/") or request.host_url.rstrip("/")


def relative_redirects(response: Response) -> Response:
    """Werkzeug's own redirects (a missing trailing slash, doubled slashes) are absolute and name
    the request's Host header; make them relative, so they lead wherever the browser already is."""
    if not 300 <= response.status_code < 400:
        return response  # (before looking: a header lookup that misses raises inside Werkzeug)
    location = response.headers.get("Location")
    if location:
        try:
            parts = urlsplit(location)
        except ValueError:
            parts = None
        if parts is None:
            response.headers["Location"] = "/"
        elif parts.netloc and parts.netloc == request.host:
            # One leading slash: "//host/..." would be read as another site.
            path = same_site_path("/" + parts.path.lstrip("/"))
            response.headers["Location"] = urlunsplit(("", "", path, parts.query, ""))
    return response


def warn_without_public_url(settings: Settings) -> None:
    if not settings.public_url:
        log.warning(
            "FIDDLE_PUBLIC_URL is unset: share links and oEmbed use each request's Host header,"
            " which is fine on this machine only; set it to the public origin in production"
        )
