"""Admin pages and actions: source images (with everything rendered from them), named fiddles,
and the audit log. Every action is recorded in the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template

from functions.audit import AuditLog
from functions.guards import require_admin
from functions.inputs import SOURCE_ID
from functions.named import NamedFiddles, NamingError
from functions.sources import SourceImages, UploadRejected

blueprint = Blueprint("admin", __name__)


def _sources() -> SourceImages:
    return current_app.extensions["sources"]


def _named() -> NamedFiddles:
    return current_app.extensions["named"]


def _audit() -> AuditLog:
    return current_app.extensions["audit"]


@blueprint.get("/admin/")
def admin_home() -> Any:
    require_admin()
    return redirect("/admin/sources", 303)


@blueprint.get("/admin/sources")
def sources_page() -> Any:
    require_admin()
    return render_template("admin_sources.html", sources=_sources().all())


@blueprint.get("/admin/named")
def named_page() -> Any:
    require_admin()
    return render_template("admin_named.html", named=sorted(_named().all(), key=lambda n: n.name))


@blueprint.get("/admin/audit")
def audit_page() -> Any:
    require_admin()
    return render_template("admin_audit.html", entries=_audit().newest())


def delete_source(source_id: int) -> list[str]:
    admin = require_admin()
    try:
        hashes = _sources().delete(source_id)
    except UploadRejected as error:
        abort(error.status, error.message)
    _audit().record(admin.name, "delete_source", str(source_id), fiddles=hashes)
    return hashes


@blueprint.delete(f"/_/source/<{SOURCE_ID}:source_id>")
def delete_source_json(source_id: int) -> Any:
    return jsonify(deleted=source_id, fiddles=delete_source(source_id))


@blueprint.post(f"/admin/sources/<{SOURCE_ID}:source_id>/delete")
def delete_source_form(source_id: int) -> Any:
    delete_source(source_id)
    return redirect("/admin/sources", 303)


def delete_named(name: str) -> None:
    admin = require_admin()
    try:
        _named().delete(name)
    except NamingError as error:
        abort(error.status, error.message)
    _audit().record(admin.name, "delete_named", name)


@blueprint.delete("/_/named/<name>")
def delete_named_json(name: str) -> Any:
    delete_named(name)
    return jsonify(deleted=name)


@blueprint.post("/admin/named/<name>/delete")
def delete_named_form(name: str) -> Any:
    delete_named(name)
    return redirect("/admin/named", 303)
