"""What each route says about itself in the OpenAPI document (functions/openapi.py builds it).

A view is documented by `@documented(summary, *answers, body=..., query=...)` right under its
route decorator. Its path parameters come from the route's URL rule, its error bodies from its
blueprint's policy (JSON `{"error", "fields"}` or the HTML error page), its schemas from the
marshmallow schemas that also validate (functions/schemas.py) or describe (functions/
api_schemas.py) the bodies. Nothing in the document is written by hand twice: a route without
`@documented` fails the test that compares the document with the app's URL map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from marshmallow import Schema

View = TypeVar("View", bound=Callable[..., Any])
ATTRIBUTE = "__openapi__"

# Response headers a route may name, with what they say.
HEADERS = {
    "Retry-After": ("Seconds to wait before trying again.", {"type": "integer", "minimum": 0}),
    "ETag": ("Names the run, the fiddle and the output: it never changes.", {"type": "string"}),
    "Cache-Control": ("How long others may keep the answer.", {"type": "string"}),
    "Location": ("Where the browser goes next.", {"type": "string"}),
}
# What an error status means on every route that lists it.
ERRORS = {
    400: "The request is malformed: one sentence, and the reasons per field.",
    401: "Only a signed-in user may do this.",
    403: "This user may not do this (or the form lacks its CSRF token).",
    404: "Nothing is at this address (an unknown hash, name, run or id).",
    409: "The request collides with what is stored (a name taken, a source image deleted "
    "meanwhile, a built-in image that cannot be deleted).",
    413: "The request is larger than the service takes.",
    429: "Too many requests or runs of this client, or every runner is busy; try again later.",
    501: "format=xml: a format oEmbed defines that this service does not offer.",
    503: "No runner is available, or the service's storage cannot be reached, at the moment; "
    "try again later.",
    507: "The service's storage is full, so nothing was stored; try again later.",
}
# Errors that say when to come back.
RETRY_LATER = (429, 503, 507)


@dataclass(frozen=True)
class Link:
    """Where an answer leads (an OpenAPI link): the operation of another route (by its
    endpoint), with parameters and body taken from this answer by runtime expressions, e.g.
    "$response.body#/fiddleHash", or strings embedding them: "{$response.body#/id}.pdf"."""

    name: str
    endpoint: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    """One response: its status, and what its body is (a JSON schema, or a media type)."""

    status: int
    description: str
    schema: type[Schema] | None = None
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    # Other shapes the same answer may take (e.g. a run at one build or at several).
    alternatives: tuple[type[Schema], ...] = ()


@dataclass(frozen=True)
class Body:
    """A request body: a marshmallow schema (JSON), or a JSON schema of form fields."""

    media_type: str
    schema: type[Schema] | dict[str, Any]
    required: bool = True
    description: str = ""
    # Further JSON schemas the body may match instead (anyOf), e.g. an older client's form.
    alternatives: tuple[type[Schema], ...] = ()
    example: Any = None


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: tuple[Answer, ...]
    errors: tuple[int, ...] = ()
    body: Body | None = None
    query: tuple[Query, ...] = ()
    # Path parameter name -> its description and JSON schema (the URL rule gives the rest).
    path: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    description: str = ""
    # Extra text the route's policy does not say (who may call it).
    security: str = ""


def documented(
    summary: str,
    *answers: Answer,
    errors: tuple[int, ...] = (),
    body: Body | None = None,
    query: tuple[Query, ...] = (),
    path: dict[str, tuple[str, dict[str, Any]]] | None = None,
    description: str = "",
    security: str = "",
) -> Callable[[View], View]:
    """Attach the operation to the view (place it right under the route decorator)."""
    operation = Operation(summary, answers, errors, body, query, path or {}, description, security)

    def attach(view: View) -> View:
        setattr(view, ATTRIBUTE, operation)
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation | None:
    found = getattr(view, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


# A fiddle as the URLs name it: its hash, or @ and its name.
REFERENCE = (
    "A fiddle's hash (32 lower-case hex digits) or @ and its name.",
    {"type": "string", "pattern": "^(?:[0-9a-f]{32}|@[0-9A-Za-z_]{1,128})$"},
)


def page(description: str, status: int = 200) -> Answer:
    return Answer(status, description, media_type="text/html")


def moved(status: int, description: str) -> Answer:
    return Answer(status, description, media_type="", headers=("Location",))
