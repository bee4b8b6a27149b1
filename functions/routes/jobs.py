"""Jobs for administrators: start one, read its progress, cancel it (JSON for programs and
`fiddle jobs`), and the /admin/jobs page. Starting and cancelling are recorded in the audit log."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, render_template, request

from functions.api_schemas import JobListSchema, JobRequestSchema, JobSchema
from functions.apidoc import Answer, Body, Query, documented
from functions.errors import InvalidInput
from functions.guards import require_admin
from functions.inputs import json_object
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

MAX_LISTED = 200

blueprint = FiddleBlueprint(
    "jobs",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="admin",
        paths=("/_/jobs", "/_/jobs/*"),
        json_errors=True,
        cors=False,
        framing=Framing.DENY,
    ),
)


ADMINS = "Administrators only."
JOB_ID = ("The job's id.", {"type": "string", "maxLength": 200})


@blueprint.post("/_/jobs")
@documented(
    "Start a job",
    Answer(201, "Queued; a worker takes it up.", JobSchema, headers=("Location",)),
    errors=(400, 401, 403),
    body=Body("application/json", JobRequestSchema),
    security=ADMINS,
)
def start_job() -> Any:
    """Admins: start a job, `{"kind": "rerun-named" | "rerun-fiddles", "params": {...}}` -> 201
    with the job (`rerun-named`: `{"build", "previous"}`, versions, HEAD and the build before it
    by default; `rerun-fiddles`: `{"hashes": [...], "builds": [...] | "all"}`); a bad kind,
    parameter, build or hash is a 400 that names it."""
    admin = require_admin()
    body = json_object(require_json_type=True)
    unknown = sorted(set(body) - {"kind", "params"})
    if unknown:
        raise InvalidInput(f'Unknown field {unknown[0]!r}: a job is {{"kind", "params"}}.')
    job = services().jobs.start(body.get("kind"), body.get("params"), admin.name)
    services().audit.record(admin.name, "start_job", job.id, kind=job.kind, items=job.total)
    return jsonify(job.to_json()), 201, {"Location": f"/_/jobs/{job.id}"}


@blueprint.get("/_/jobs")
@documented(
    "The newest jobs, with their progress",
    Answer(200, "Newest first.", JobListSchema),
    errors=(400, 401, 403),
    query=(Query("limit", "How many (50).", {"type": "integer", "minimum": 1, "maximum": 200}),),
    security=ADMINS,
)
def list_jobs() -> Any:
    """Admins: the newest jobs (`?limit=`, 50, at most 200) with their state and progress ->
    `{"jobs": [...]}`."""
    require_admin()
    limit = _limit()
    return jsonify(jobs=[_summary(job.to_json()) for job in services().jobs.newest(limit)])


@blueprint.get("/_/jobs/<job_id>")
@documented(
    "A job and its progress",
    Answer(200, "The job.", JobSchema),
    errors=(401, 403, 404),
    path={"job_id": JOB_ID},
    security=ADMINS,
)
def get_job(job_id: str) -> Any:
    """Admins: a job -> its kind, parameters, state, `progress: {done, total, failures, counts}`,
    first failures, who started it, the worker holding it and its lease."""
    require_admin()
    return jsonify(services().jobs.get(job_id).to_json())


@blueprint.post("/_/jobs/<job_id>/cancel")
@documented(
    "Cancel a job",
    Answer(202, "A queued job is cancelled; a running one is asked to stop (state cancel).",
           JobSchema),
    errors=(401, 403, 404, 409),
    path={"job_id": JOB_ID},
    security=ADMINS,
)  # fmt: skip
def cancel_job(job_id: str) -> Any:
    """Admins: cancel a job -> 202; a queued one is `cancelled` at once, a running one `cancel`
    (its worker stops starting items, records those in flight, and ends it `cancelled`); a job
    that has ended is a 409."""
    admin = require_admin()
    job = services().jobs.cancel(job_id)
    services().audit.record(admin.name, "cancel_job", job.id, state=job.state)
    return jsonify(job.to_json()), 202


def admin_jobs_page() -> Any:
    require_admin()
    jobs = services().jobs.newest(MAX_LISTED)
    return render_template("admin_jobs.html", jobs=jobs, active=any(not j.final for j in jobs))


def cancel_job_form(job_id: str) -> Any:
    cancel_job(job_id)
    return redirect("/admin/jobs", 303)


def _limit() -> int:
    value = request.args.get("limit", "50")
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LISTED:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LISTED}.")
    return int(value)


def _summary(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the list shows it: without its failures' details."""
    return {key: value for key, value in job.items() if key != "failures"}
