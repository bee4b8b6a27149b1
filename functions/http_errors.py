"""Every error answer of the app, written in one place: domain errors (functions/errors.py) get
the status of their class, HTTP errors (an unknown address, a method a route does not take, a
body too large) their own; each is answered as JSON `{"error", "fields"}` or as the HTML error
page, as the route's policy says (functions/routing.py).

The JSON answer always has "error", one sentence, and "fields", the reasons per request field:
empty when the error concerns no field, except on a 400, where it names the request itself if
nothing else. 429 and 503 always say when to come back (Retry-After).

A 404 of an image or video address (the route policy's `image_paths`) has an empty body, unless
the request's Accept header names JSON or HTML (a program asking for the sentence, a browser tab
opening the address): an <img> or <video> shows no error body, and Skia's components request
outputs that may not exist (the GPU image) on every fiddle they show.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from functions import errors
from functions.docstore.base import DocStoreFull, DocStoreUnavailable
from functions.routing import current_policy
from functions.storage.blobstore import StorageFull, StorageUnavailable

log = logging.getLogger(__name__)
STATUS: dict[type[errors.FiddleError], int] = {
    errors.InvalidInput: 400,
    errors.NotSignedIn: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Busy: 429,
    errors.Unavailable: 503,
    errors.StorageFull: 507,
}
# What HTTP errors say, whatever Werkzeug's own description is.
HTTP_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request is too large.",
}
UNEXPECTED = "The service failed to answer; please try again."
# What a client is told when a store fails (functions/storage, functions/docstore): writes are
# whole or absent, and a run is shown only once its marker is written, so nothing half-done is
# ever visible and the same request succeeds once the store is back.
STORE_UNAVAILABLE = "The service's storage cannot be reached right now; try again shortly."
STORE_FULL = "The service's storage is full, so nothing was stored; try again later."
# Retry-After of a 429 or 503 whose error did not say when to come back.
DEFAULT_RETRY_SECONDS = 5
# A store that failed is given this long before the request is tried again.
STORE_RETRY_SECONDS = 10


def install(app: Flask) -> None:
    app.register_error_handler(errors.FiddleError, _domain_error)
    for full in (StorageFull, DocStoreFull):
        app.register_error_handler(full, _store_full)
    for unavailable in (StorageUnavailable, DocStoreUnavailable):
        app.register_error_handler(unavailable, _store_unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def wants_json() -> bool:
    return current_policy().json_errors


def status_of(error: errors.FiddleError) -> int:
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 400)


def retry_later(response: Response, seconds: int | None) -> Response:
    """The one way an answer says "busy, come back in `seconds`" (nothing when None)."""
    if seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


def error_response(
    status: int, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    if status == 404 and _image_request():
        return _empty(status)
    if wants_json():
        response = jsonify(_json_error(status, message, fields or {}))
    else:
        response = make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def _image_request() -> bool:
    patterns = current_policy().image_paths
    if not any(fnmatch.fnmatchcase(request.path, pattern) for pattern in patterns):
        return False
    named = {mimetype for mimetype, _ in request.accept_mimetypes}
    return not named & {"application/json", "text/html"}


def _empty(status: int) -> Response:
    return Response(b"", status=status, content_type="text/plain; charset=utf-8")


def _json_error(status: int, message: str, fields: dict[str, list[str]]) -> dict[str, Any]:
    if not fields and status == 400:
        fields = {"request": [message]}
    return {"error": message, "fields": fields}


def _domain_error(error: errors.FiddleError) -> Response:
    status = status_of(error)
    response = error_response(status, error.message, error.fields)
    if error.retry_after is None and status in (429, 503):
        return retry_later(response, DEFAULT_RETRY_SECONDS)
    return retry_later(response, error.retry_after)


def _store_full(error: Exception) -> Response:
    log.error("storage is full on %s: %s", request.path, error)
    return _domain_error(errors.StorageFull(STORE_FULL, retry_after=STORE_RETRY_SECONDS))


def _store_unavailable(error: Exception) -> Response:
    log.error("storage failed on %s: %s", request.path, error)
    return _domain_error(errors.Unavailable(STORE_UNAVAILABLE, retry_after=STORE_RETRY_SECONDS))


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    message = HTTP_MESSAGES.get(code, error.description or "The request failed.")
    response = error_response(code, message)
    # What the error says besides its body: Allow on a 405 (RFC 9110), Retry-After on a 429/503.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected_error(error: Exception) -> Response:
    # JSON whatever the route: rendering a page may be what failed.
    log.exception("unexpected error on %s", request.path)
    response = jsonify(error=UNEXPECTED, fields={})
    response.status_code = 500
    return response
