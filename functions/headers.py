"""Response headers every answer gets: who may frame it, what it may load, who may read it.

Only `/iframe/` may be framed by other sites (SPEC section 4). The anonymous, read-mostly JSON
API (run, fiddle JSON, outputs, source images) may be called from any origin without
credentials, so that the static site works from a CDN host other than the API's; nothing that
needs a session (name, upload, admin) is ever opened up that way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request

# Outputs (a PDF shown inline) may be framed by this site's own pages, never by others.
OUTPUT_PREFIXES = ("/i/", "/ai/")
# Paths any origin may call, without cookies.
OPEN_API_PREFIXES = ("/_/run", "/_/sources", "/e/", "/i/", "/ai/", "/s/", "/oembed")
# The interactive embed's script: other sites load it with <script type="module">, which browsers
# fetch with CORS. It is a public file; nobody's cookies are involved.
OPEN_SCRIPTS = ("/static/dist/embed.js", "/static/dist/embed.js.map")
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def page_policy(api_base: str) -> str:
    """The pages' Content-Security-Policy; an API on another origin is allowed to be fetched
    from and to supply images and the PDF."""
    extra = _extra_origin(api_base)
    return (
        f"default-src 'self'; connect-src 'self'{extra}; img-src 'self' data:{extra}; "
        f"object-src 'self'{extra}; frame-src 'self'{extra}"
    )


def add_headers(response: Any) -> Any:
    _add_framing_and_policy(response.headers, request.path)
    if request.path.startswith(OPEN_API_PREFIXES) or request.path in OPEN_SCRIPTS:
        _add_cors(response.headers)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _add_framing_and_policy(headers: Any, path: str) -> None:
    api_base = current_app.config["SETTINGS"].api_base
    policy = page_policy(api_base)
    if path.startswith("/iframe/"):
        # ?code=1 runs fiddles: its script calls the API, which may be on another origin.
        extra = _extra_origin(api_base)
        iframe_policy = f"default-src 'self'; connect-src 'self'{extra}; img-src 'self'{extra}"
        headers.setdefault("Content-Security-Policy", iframe_policy)
    elif path.startswith(OUTPUT_PREFIXES):
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Content-Security-Policy", f"{policy}; frame-ancestors 'self'")
    else:
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", f"{policy}; frame-ancestors 'none'")


def _add_cors(headers: Any) -> None:
    # "*" and never Allow-Credentials: a cross-origin caller is always anonymous.
    headers["Access-Control-Allow-Origin"] = "*"
    if request.method == "OPTIONS":
        headers.update(PREFLIGHT)


def _extra_origin(api_base: str) -> str:
    """The API's origin with a leading space when it is elsewhere, else "" (this origin)."""
    parts = urlsplit(api_base)
    return f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
