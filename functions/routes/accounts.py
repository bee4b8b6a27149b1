"""Sign-in and sign-out pages (session cookies with CSRF-protected forms)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session

from functions.guards import current_user
from functions.identity import SESSION_USER, csrf_valid

blueprint = Blueprint("accounts", __name__)


@blueprint.get("/signin")
def signin_form() -> Any:
    return render_template("signin.html", error="", next=_safe_next(request.args.get("next", "/")))


@blueprint.post("/signin")
def signin() -> Any:
    if not csrf_valid(request):
        abort(403, "The form is missing its CSRF token; reload the page and try again.")
    name, password = request.form.get("name", ""), request.form.get("password", "")
    user = current_app.extensions["accounts"].verify_password(name, password)
    target = _safe_next(request.form.get("next", "/"))
    if user is None:
        page = render_template("signin.html", error="The name or password is wrong.", next=target)
        return page, 401
    session.clear()
    session[SESSION_USER] = user.name
    return redirect(target, 303)


@blueprint.post("/signout")
def signout() -> Any:
    if current_user() is not None and not csrf_valid(request):
        abort(403, "The form is missing its CSRF token; reload the page and try again.")
    session.clear()
    return redirect("/", 303)


def _safe_next(target: str) -> str:
    """Only same-site paths: an open redirect would let others borrow our sign-in page."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
