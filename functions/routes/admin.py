"""Admin pages and actions: source images (with everything rendered from them), named fiddles,
and the audit log. Every action is recorded in the audit log."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, render_template, request

from functions.api_schemas import DeletedNameSchema, DeletedSourceSchema
from functions.apidoc import Answer, Body, documented, moved, page
from functions.errors import NotFound
from functions.guards import require_admin
from functions.inputs import SOURCE_ID
from functions.jobs.model import PURGE_SOURCE, Job
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


ADMINS = "Administrators only (a session or an API token of an admin)."
SOURCE = ("A source image's id.", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})
NAME = ("A fiddle's name.", {"type": "string", "pattern": "^[0-9A-Za-z_]{1,128}$"})
CSRF_FORM = {"type": "object", "properties": {"csrf_token": {"type": "string"}}}
_PAGE_ERRORS = (401, 403)


@blueprint.get("/admin/")
@documented(
    "The admin pages", moved(303, "On to the source images."), errors=_PAGE_ERRORS,
    security=ADMINS,
)  # fmt: skip
def admin_home() -> Any:
    """Admins: 303 to /admin/sources."""
    require_admin()
    return redirect("/admin/sources", 303)


@blueprint.get("/admin/sources")
@documented("Source images, to delete", page("The list."), errors=_PAGE_ERRORS, security=ADMINS)
def sources_page() -> Any:
    """Admins: every source image, each uploaded one with a delete button (after a deletion,
    `?deleted=<id>&job=<id>` says so and links the jobs page)."""
    require_admin()
    return render_template(
        "admin_sources.html", sources=services().sources.all(), purge=_purge_named()
    )


def _purge_named() -> Job | None:
    """The purge-source job the page was sent back with, if it is one."""
    job_id = request.args.get("job", "")
    try:
        job = services().jobs.get(job_id)
    except NotFound:
        return None
    return job if job.kind == PURGE_SOURCE else None


@blueprint.get("/admin/named")
@documented("Named fiddles, to delete", page("The list."), errors=_PAGE_ERRORS, security=ADMINS)
def named_page() -> Any:
    """Admins: every named fiddle, with a delete button."""
    require_admin()
    named = sorted(services().named.all(), key=lambda n: n.name)
    return render_template("admin_named.html", named=named)


@blueprint.get("/admin/jobs")
@documented("Jobs, with live progress", page("The list."), errors=_PAGE_ERRORS, security=ADMINS)
def jobs_page() -> Any:
    """Admins: the newest jobs with their progress (live while any is active), each unfinished
    one with a cancel button."""
    from functions.routes.jobs import admin_jobs_page

    return admin_jobs_page()


@blueprint.post("/admin/jobs/<job_id>/cancel")
@documented(
    "Cancel a job (the admin page's form)",
    moved(303, "Back to the list."),
    errors=(401, 403, 404, 409),
    body=Body("application/x-www-form-urlencoded", CSRF_FORM, required=False),
    path={"job_id": ("The job's id.", {"type": "string", "maxLength": 200})},
    security=ADMINS,
)
def cancel_job_form(job_id: str) -> Any:
    """Admins: cancel a job from the jobs page's form (with its `csrf_token`), then 303 back."""
    from functions.routes.jobs import cancel_job_form as cancel

    return cancel(job_id)


@blueprint.get("/admin/audit")
@documented("The audit log", page("The newest entries."), errors=_PAGE_ERRORS, security=ADMINS)
def audit_page() -> Any:
    """Admins: the newest entries of the audit log."""
    require_admin()
    return render_template("admin_audit.html", entries=services().audit.newest())


def delete_source(source_id: int) -> tuple[list[str], Job]:
    """Remove the image at once (nothing rendered from it is shown from here on) and record the
    purge-source job that withdraws the runs of the fiddles rendered from it."""
    admin = require_admin()
    hashes = services().sources.withdraw(source_id)
    job = services().jobs.purge_source(source_id, hashes, admin.name)
    services().audit.record(admin.name, "delete_source", str(source_id), fiddles=hashes, job=job.id)
    return hashes, job


@api_blueprint.delete(f"/_/source/<{SOURCE_ID}:source_id>")
@documented(
    "Delete a source image; a job removes every output rendered from it",
    Answer(202, "The image is gone (nothing rendered from it is shown any more); the job that"
           " withdraws the runs of these fiddles is queued (follow it at its url).",
           DeletedSourceSchema, headers=("Location",)),
    errors=(401, 403, 404, 409),
    path={"source_id": SOURCE},
    security=ADMINS,
)  # fmt: skip
def delete_source_json(source_id: int) -> Any:
    """Admins: delete an uploaded source image -> 202 `{"deleted": id, "fiddles": [the hashes
    whose runs the job withdraws], "job": the purge-source job}`, `Location: /_/jobs/<id>`; the
    image is unavailable when it answers; a built-in image is 409, an unknown id 404."""
    hashes, job = delete_source(source_id)
    headers = {"Location": f"/_/jobs/{job.id}"}
    return jsonify(deleted=source_id, fiddles=hashes, job=job.to_json()), 202, headers


@blueprint.post(f"/admin/sources/<{SOURCE_ID}:source_id>/delete")
@documented(
    "Delete a source image (the admin page's form)",
    moved(303, "Deleted: back to the list, which links the purge-source job."),
    errors=(401, 403, 404, 409),
    body=Body("application/x-www-form-urlencoded", CSRF_FORM, required=False),
    path={"source_id": SOURCE},
    security=ADMINS,
)
def delete_source_form(source_id: int) -> Any:
    """Admins: the same from the admin page's form (with its `csrf_token`), then 303 back."""
    _, job = delete_source(source_id)
    return redirect(f"/admin/sources?deleted={source_id}&job={job.id}", 303)


def delete_named(name: str) -> None:
    admin = require_admin()
    services().named.delete(name)
    services().audit.record(admin.name, "delete_named", name)


@api_blueprint.delete("/_/named/<name>")
@documented(
    "Delete a fiddle's name (the fiddle stays)",
    Answer(200, "Deleted.", DeletedNameSchema),
    errors=(400, 401, 403, 404),
    path={"name": NAME},
    security=ADMINS,
)
def delete_named_json(name: str) -> Any:
    """Admins: delete a name -> `{"deleted": name}`."""
    delete_named(name)
    return jsonify(deleted=name)


@blueprint.post("/admin/named/<name>/delete")
@documented(
    "Delete a fiddle's name (the admin page's form)",
    moved(303, "Deleted: back to the list."),
    errors=(400, 401, 403, 404),
    body=Body("application/x-www-form-urlencoded", CSRF_FORM, required=False),
    path={"name": NAME},
    security=ADMINS,
)
def delete_named_form(name: str) -> Any:
    """Admins: the same from the admin page's form (with its `csrf_token`), then 303 back."""
    delete_named(name)
    return redirect("/admin/named", 303)
