"""Admin pages and actions: source images (with everything rendered from them), named fiddles,
and the audit log. Every action is recorded in the audit log."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, render_template

from functions.guards import require_admin
from functions.inputs import SOURCE_ID
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

blueprint = FiddleBlueprint(
    "admin",
    __name__,
    policy=RoutePolicy(
        kind=Kind.PAGE,
        target="admin",
        paths=("/admin", "/admin/*"),
        json_errors=False,
        cors=False,
        framing=Framing.DENY,
    ),
)
# The same actions for programs (with an API token).
api_blueprint = FiddleBlueprint(
    "admin_api",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="admin",
        paths=("/_/source/*", "/_/named/*"),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)


@blueprint.get("/admin/")
def admin_home() -> Any:
    require_admin()
    return redirect("/admin/sources", 303)


@blueprint.get("/admin/sources")
def sources_page() -> Any:
    require_admin()
    return render_template("admin_sources.html", sources=services().sources.all())


@blueprint.get("/admin/named")
def named_page() -> Any:
    require_admin()
    named = sorted(services().named.all(), key=lambda n: n.name)
    return render_template("admin_named.html", named=named)


@blueprint.get("/admin/jobs")
def jobs_page() -> Any:
    from functions.routes.jobs import admin_jobs_page

    return admin_jobs_page()


@blueprint.post("/admin/jobs/<job_id>/cancel")
def cancel_job_form(job_id: str) -> Any:
    from functions.routes.jobs import cancel_job_form as cancel

    return cancel(job_id)


@blueprint.get("/admin/audit")
def audit_page() -> Any:
    require_admin()
    return render_template("admin_audit.html", entries=services().audit.newest())


def delete_source(source_id: int) -> list[str]:
    admin = require_admin()
    hashes = services().sources.delete(source_id)
    services().audit.record(admin.name, "delete_source", str(source_id), fiddles=hashes)
    return hashes


@api_blueprint.delete(f"/_/source/<{SOURCE_ID}:source_id>")
def delete_source_json(source_id: int) -> Any:
    return jsonify(deleted=source_id, fiddles=delete_source(source_id))


@blueprint.post(f"/admin/sources/<{SOURCE_ID}:source_id>/delete")
def delete_source_form(source_id: int) -> Any:
    delete_source(source_id)
    return redirect("/admin/sources", 303)


def delete_named(name: str) -> None:
    admin = require_admin()
    services().named.delete(name)
    services().audit.record(admin.name, "delete_named", name)


@api_blueprint.delete("/_/named/<name>")
def delete_named_json(name: str) -> Any:
    delete_named(name)
    return jsonify(deleted=name)


@blueprint.post("/admin/named/<name>/delete")
def delete_named_form(name: str) -> Any:
    delete_named(name)
    return redirect("/admin/named", 303)
