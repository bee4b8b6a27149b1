"""Sign-in and sign-out pages (session cookies with CSRF-protected forms)."""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, render_template, request, session

from functions.apidoc import Answer, Body, Query, documented, moved, page
from functions.errors import Forbidden
from functions.guards import CSRF_MISSING, current_user
from functions.http_errors import retry_later
from functions.identity import SESSION_ID, SESSION_USER, csrf_valid
from functions.links import same_site_path
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

blueprint = FiddleBlueprint(
    "accounts",
    __name__,
    policy=RoutePolicy(
        kind=Kind.PAGE,
        target="pages",
        paths=("/signin", "/signout"),
        json_errors=False,
        cors=False,
        framing=Framing.DENY,
    ),
)


SIGNIN_FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "password": {"type": "string"},
        "next": {"type": "string", "description": "A path of this site to go to after."},
        "csrf_token": {"type": "string", "description": "The token the form was served with."},
    },
}
CSRF_FORM = {"type": "object", "properties": {"csrf_token": {"type": "string"}}}


@blueprint.get("/signin")
@documented(
    "The sign-in form",
    page("The form."),
    query=(Query("next", "A path of this site to go to after signing in.", {"type": "string"}),),
)
def signin_form() -> Any:
    """The sign-in form; `?next=PATH` is where signing in leads, if it is a plain path on this
    site (else `/`)."""
    return render_template("signin.html", error="", next=same_site_path(request.args.get("next")))


@blueprint.post("/signin")
@documented(
    "Sign in with a name and password",
    moved(303, "Signed in: on to `next` (a same-site path) or the front page."),
    page("The name or password is wrong.", 401),
    Answer(429, "Too many attempts for this account or client.", media_type="text/html",
           headers=("Retry-After",)),
    errors=(403,),
    body=Body("application/x-www-form-urlencoded", SIGNIN_FORM),
)  # fmt: skip
def signin() -> Any:
    """Sign in with the form's `name`, `password`, `csrf_token` and `next`: 303 to `next` with a
    session cookie, 401 for a wrong name or password, 429 with Retry-After after too many
    failures (refused before the password is hashed)."""
    if not csrf_valid(request):
        raise Forbidden(CSRF_MISSING)
    name, password = request.form.get("name", ""), request.form.get("password", "")
    target = same_site_path(request.form.get("next"))
    accounts, limits = services().accounts, services().rate_limits.signin
    # Before the password is hashed: a refused guess costs no argon2 work.
    admission = limits.admit(request.remote_addr or "unknown", name)
    if admission.retry_after:
        page = render_template("signin.html", error=admission.message, next=target)
        return retry_later(make_response(page, 429), admission.retry_after)
    user = accounts.verify_password(name, password)
    if user is None:
        page = render_template("signin.html", error="The name or password is wrong.", next=target)
        return page, 401
    limits.forgive(admission)
    _end_this_session()
    session.clear()
    session[SESSION_USER] = user.name
    session[SESSION_ID] = accounts.start_session(user)
    return redirect(target, 303)


@blueprint.post("/signout")
@documented(
    "Sign out, ending the session on the server too",
    moved(303, "Signed out: on to the front page."),
    errors=(403,),
    body=Body("application/x-www-form-urlencoded", CSRF_FORM, required=False),
)
def signout() -> Any:
    """Sign out (the form's `csrf_token`), then 303 to `/`. Ends this browser's session on the
    server too: a copy of the cookie stops working."""
    if current_user() is not None and not csrf_valid(request):
        raise Forbidden(CSRF_MISSING)
    _end_this_session()
    session.clear()
    return redirect("/", 303)


def _end_this_session() -> None:
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        services().accounts.end_session(session_id)
