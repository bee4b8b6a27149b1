"""Response headers every answer gets, from its route's policy (functions/routing.py): who may
frame it, what it may load, and whether any origin may read it.

Only the embed may be framed by other sites; outputs only by this site's pages (a PDF shown
inline). The anonymous, read-mostly API (run, fiddle JSON, outputs, source images, oEmbed) may be
called from any origin, always without credentials, so that the static site works from a CDN
host other than the API's; so may the interactive embed's script, which other sites load as a
module. Nothing that needs a session (name, upload, admin) is opened up that way.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from flask import request

from functions.routing import Csp, Framing, RoutePolicy, current_policy

PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
FRAME_ANCESTORS = {Framing.DENY: "'none'", Framing.SELF: "'self'"}
FRAME_OPTIONS = {Framing.DENY: "DENY", Framing.SELF: "SAMEORIGIN"}


def page_policy(api_base: str) -> str:
    """The pages' Content-Security-Policy; an API on another origin is allowed to be fetched
    from and to supply images and the PDF."""
    extra = _extra_origin(api_base)
    return (
        f"default-src 'self'; connect-src 'self'{extra}; img-src 'self' data:{extra}; "
        f"object-src 'self'{extra}; frame-src 'self'{extra}"
    )


def embed_policy(api_base: str) -> str:
    """The embed's: with ?code=1 it runs fiddles, so its script calls the API, which may be on
    another origin."""
    extra = _extra_origin(api_base)
    return f"default-src 'self'; connect-src 'self'{extra}; img-src 'self'{extra}"


def add_headers(response: Any, api_base: str) -> Any:
    policy = current_policy()
    preflight = policy.cors and request.method == "OPTIONS"
    headers = response.headers
    # A view's own header wins; checked by name once, since Headers.setdefault raises and
    # catches an exception for every header that is missing (all of them, usually).
    present = {name.lower() for name, _ in headers}
    for name, value in policy_headers(policy, api_base, preflight):
        if name.lower() not in present:
            headers.add(name, value)
    return response


@functools.lru_cache(maxsize=256)
def policy_headers(
    policy: RoutePolicy, api_base: str, preflight: bool
) -> tuple[tuple[str, str], ...]:
    """Every header the policy adds to an answer, worked out once per policy."""
    found: list[tuple[str, str]] = []
    if policy.framing in FRAME_OPTIONS:
        found.append(("X-Frame-Options", FRAME_OPTIONS[policy.framing]))
    found.append(("Content-Security-Policy", content_security_policy(policy, api_base)))
    if policy.cors:
        # "*" and never Allow-Credentials: a cross-origin caller is always anonymous.
        found.append(("Access-Control-Allow-Origin", "*"))
        found.extend(PREFLIGHT.items() if preflight else ())
    found.append(("X-Content-Type-Options", "nosniff"))
    return tuple(found)


def content_security_policy(policy: RoutePolicy, api_base: str) -> str:
    csp = page_policy(api_base) if policy.csp == Csp.PAGE else embed_policy(api_base)
    ancestors = FRAME_ANCESTORS.get(policy.framing)
    return f"{csp}; frame-ancestors {ancestors}" if ancestors else csp


def _extra_origin(api_base: str) -> str:
    """The API's origin with a leading space when it is elsewhere, else "" (this origin)."""
    parts = urlsplit(api_base)
    return f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
