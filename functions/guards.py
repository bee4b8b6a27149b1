"""Who may do what: the signed-in user of a request, and the checks routes call."""

from __future__ import annotations

from flask import g, request

from functions.accounts import User
from functions.errors import Forbidden, NotSignedIn
from functions.identity import csrf_valid, identify
from functions.services import services

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_MISSING = "The form is missing its CSRF token; reload the page and try again."


def current_user() -> User | None:
    if "identity" not in g:
        g.identity = identify(services().identity_providers, request)
    user, _ = g.identity
    return user


def require_user() -> User:
    user = current_user()
    if user is None:
        raise NotSignedIn("Sign in to do this.")
    _, needs_csrf = g.identity
    if needs_csrf and request.method not in SAFE_METHODS and not csrf_valid(request):
        raise Forbidden(CSRF_MISSING)
    return user


def require_admin() -> User:
    user = require_user()
    if not user.is_admin:
        raise Forbidden("Only administrators may do this.")
    return user
