"""Sign-in and sign-out pages (session cookies with CSRF-protected forms)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session

from functions.accounts import Accounts
from functions.guards import current_user
from functions.identity import SESSION_ID, SESSION_USER, csrf_valid
from functions.links import same_site_path
from functions.ratelimits import SigninLimits

blueprint = Blueprint("accounts", __name__)
CSRF_MISSING = "The form is missing its CSRF token; reload the page and try again."


def _accounts() -> Accounts:
    return current_app.extensions["accounts"]


@blueprint.get("/signin")
def signin_form() -> Any:
    return render_template("signin.html", error="", next=same_site_path(request.args.get("next")))


@blueprint.post("/signin")
def signin() -> Any:
    if not csrf_valid(request):
        abort(403, CSRF_MISSING)
    name, password = request.form.get("name", ""), request.form.get("password", "")
    target = same_site_path(request.form.get("next"))
    limits: SigninLimits = current_app.extensions["rate_limits"].signin
    # Before the password is hashed: a refused guess costs no argon2 work.
    admission = limits.admit(request.remote_addr or "unknown", name)
    if admission.retry_after:
        page = render_template("signin.html", error=admission.message, next=target)
        return page, 429, {"Retry-After": str(admission.retry_after)}
    user = _accounts().verify_password(name, password)
    if user is None:
        page = render_template("signin.html", error="The name or password is wrong.", next=target)
        return page, 401
    limits.forgive(admission)
    _end_this_session()
    session.clear()
    session[SESSION_USER] = user.name
    session[SESSION_ID] = _accounts().start_session(user)
    return redirect(target, 303)


@blueprint.post("/signout")
def signout() -> Any:
    """Ends this browser's session on the server too: a copy of the cookie stops working."""
    if current_user() is not None and not csrf_valid(request):
        abort(403, CSRF_MISSING)
    _end_this_session()
    session.clear()
    return redirect("/", 303)


def _end_this_session() -> None:
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        _accounts().end_session(session_id)
