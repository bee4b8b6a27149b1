"""Route policy, declared with the routes: every blueprint says what its answers are.

Each blueprint of functions/routes/ is a `FiddleBlueprint` with one `RoutePolicy`: its kind
(API, page, embed or output), whether its errors are JSON or the HTML error page, whether any
origin may read it (CORS, never with credentials), who may frame it, which Content-Security-
Policy it sends, the Cloud Functions target that serves it and its URL paths as the load
balancer's URL map writes them ("/c/*" is everything below /c/, "/oembed" that path alone).

Everything else reads these declarations: the response headers (functions/headers.py), the error
answers (functions/http_errors.py), which target serves a path (functions/main.py) and the test
of the Terraform URL map (tests/test_infra.py). A request answered by a route takes its
blueprint's policy; any other request (an unknown address, a method the route does not take)
takes the policy whose paths match it most specifically, as the URL map would send it, or
DEFAULT_POLICY when none does. So do the static site's files, which Flask's own route serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import Blueprint, current_app, request

# The Cloud Functions targets (functions/main.py), one per group of endpoints.
TARGETS = ("run", "name", "upload", "pages", "admin")
# A path as the URL map writes it: an exact path, or a prefix ending in "/*".
_PATH = re.compile(r"/(?:[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)?(?:/\*)?")


class Kind(StrEnum):
    API = "api"  # answers for programs (JSON, or a fragment the editor's script shows)
    PAGE = "page"  # HTML pages of this site
    EMBED = "embed"  # HTML meant for other sites' iframes
    OUTPUT = "output"  # rendered outputs (images, PDF, SKP, text)
    ASSET = "asset"  # files of the static site


class Framing(StrEnum):
    DENY = "deny"  # no site may frame it
    SELF = "self"  # only this site's own pages may (the PDF shown inline)
    ANY = "any"  # any site may (the embed)


class Csp(StrEnum):
    PAGE = "page"  # the pages' policy: scripts, styles and fetches from this site and the API
    EMBED = "embed"  # the embed's: nothing but this site's own resources and the API's images


@dataclass(frozen=True)
class RoutePolicy:
    kind: Kind
    target: str
    paths: tuple[str, ...]
    json_errors: bool
    cors: bool
    framing: Framing
    csp: Csp = Csp.PAGE
    # False: the load balancer's URL map does not send these paths to the target (/metrics is
    # reachable only from inside the project; the static site's files come from its bucket).
    routed: bool = True
    # Paths (fnmatch patterns, "*" crossing "/") that serve images or videos: their 404 has no
    # body for an <img> or <video>, which shows none (functions/http_errors.py).
    image_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown functions target {self.target!r}: one of {TARGETS}")
        for path in self.paths:
            if not _PATH.fullmatch(path):
                raise ValueError(f"{path!r} is not a URL map path ('/x' or '/x/*')")


# What an address no blueprint declares gets: the front page, /static/ and unknown addresses.
DEFAULT_POLICY = RoutePolicy(
    kind=Kind.PAGE, target="pages", paths=(), json_errors=False, cors=False, framing=Framing.DENY
)


class FiddleBlueprint(Blueprint):
    """A blueprint with the policy of every route it holds."""

    def __init__(self, name: str, import_name: str, *, policy: RoutePolicy, **options: Any):
        super().__init__(name, import_name, **options)
        self.policy = policy


def matches(pattern: str, path: str) -> bool:
    """Whether the URL map path pattern covers path: "/x/*" covers everything below /x/."""
    if pattern.endswith("/*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def policy_for_path(path: str, policies: Iterable[RoutePolicy]) -> RoutePolicy:
    """The policy of the most specific declared path that covers path (as the URL map chooses
    the longest matching rule), else DEFAULT_POLICY."""
    matching = [
        (len(pattern), policy)
        for policy in policies
        for pattern in policy.paths
        if matches(pattern, path)
    ]
    return max(matching, key=lambda pair: pair[0])[1] if matching else DEFAULT_POLICY


def url_map(policies: Iterable[RoutePolicy]) -> dict[str, list[str]]:
    """The load balancer's URL map as the blueprints declare it: target -> its paths."""
    routes: dict[str, list[str]] = {}
    for policy in policies:
        if policy.routed:
            routes.setdefault(policy.target, []).extend(policy.paths)
    return routes


def app_policies() -> list[RoutePolicy]:
    return [
        blueprint.policy
        for blueprint in current_app.blueprints.values()
        if isinstance(blueprint, FiddleBlueprint)
    ]


def current_policy() -> RoutePolicy:
    """The policy of the request being answered."""
    blueprint = current_app.blueprints.get(request.blueprint or "")
    if isinstance(blueprint, FiddleBlueprint):
        return blueprint.policy
    return policy_for_path(request.path, app_policies())
