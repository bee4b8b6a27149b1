"""Marshmallow schemas of the JSON the service answers, and of the request bodies it reads
without a schema of its own (naming, the legacy run request): what the OpenAPI document
(functions/openapi.py) says about them. The run request's own schemas, which also validate it,
are in functions/schemas.py.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from functions.schemas import (
    CODE_JSON_SCHEMA,
    MAX_SIZE,
    MAX_SOURCE_ID,
    MIN_SIZE,
    VERSION_JSON_SCHEMA,
    CodeField,
    OptionsSchema,
    StrictBoolean,
    StrictInteger,
    StrictString,
    VersionField,
)
from functions.storage.layout import HASH_RE, NAME_RE

HASH = validate.Regexp(f"^{HASH_RE.pattern}$")
NAME = validate.Regexp(f"^{NAME_RE.pattern}$")


class ErrorSchema(Schema):
    """Every JSON error: one readable sentence, and the reasons per request field (empty when
    the error concerns no field)."""

    error = fields.String(required=True)
    # (Named "fields" in JSON; a schema's own attribute of that name is taken.)
    reasons = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        data_key="fields",
    )


class CompileErrorSchema(Schema):
    text = fields.String(required=True)
    line = fields.Integer(required=True)
    col = fields.Integer(required=True)


class GpuSchema(Schema):
    """The GPU of the runner a run was drawn on, or why it had none (`reason`)."""

    available = fields.Boolean(required=True)
    renderer = fields.String(required=True)
    version = fields.String(required=True)
    vendor = fields.String(required=True)
    egl_version = fields.String(required=True)
    max_samples = fields.Integer(required=True)
    reason = fields.String(required=True)


class RunAnswerSchema(Schema):
    """The answer to `POST /_/run` (a program that failed to compile or raised is still a 200
    answer: its errors are in compile_errors and runtime_error)."""

    fiddleHash = fields.String(required=True, validate=HASH)
    compile_errors = fields.List(fields.Nested(CompileErrorSchema), required=True)
    runtime_error = fields.String(required=True)
    text = fields.String(required=True, metadata={"description": "What the program printed."})
    version = fields.String(required=True, metadata={"description": "The skia-python version."})
    runid = fields.String(required=True, metadata={"description": "The run: /ai/<runid>/..."})
    cached = fields.Boolean(required=True, metadata={"description": "Answered from storage."})
    outputs = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Stored output name -> its URL under /ai/."},
    )
    outputList = fields.List(fields.Nested("OutputSchema"), required=True)
    gpu = fields.Nested(GpuSchema, required=True, allow_none=True)
    output_errors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Output name -> the traceback of its pass, which failed alone."},
    )


class BuildRunSchema(Schema):
    """One build's part of a run at several builds: its run's errors and text, or why it has
    none (`error`)."""

    version = fields.String(required=True, metadata={"description": "The skia-python version."})
    runid = fields.String(required=True, metadata={"description": "The build's runid."})
    milestone = fields.Integer(required=True)
    head = fields.Boolean(required=True, metadata={"description": "The newest build."})
    compile_errors = fields.List(fields.Nested(CompileErrorSchema))
    runtime_error = fields.String()
    text = fields.String()
    cached = fields.Boolean()
    output_errors = fields.Dict(keys=fields.String(), values=fields.String())
    outputList = fields.List(fields.Nested("OutputSchema"))
    gpu = fields.Nested(GpuSchema, allow_none=True)
    error = fields.String(metadata={"description": "Why this build has no run."})


class SeveralRunsAnswerSchema(Schema):
    """The answer to `POST /_/run` with `versions`: one run per build, newest first."""

    fiddleHash = fields.String(required=True, validate=HASH)
    runs = fields.List(fields.Nested(BuildRunSchema), required=True)


class BuildSchema(Schema):
    runid = fields.String(required=True, metadata={"description": "<release time>-<version>"})
    skia_python = fields.String(required=True)
    milestone = fields.Integer(required=True)
    released = fields.String(required=True)
    head = fields.Boolean(required=True)


class BuildsSchema(Schema):
    """The Skia builds fiddles can run at, newest first."""

    head = fields.String(required=True, allow_none=True)
    builds = fields.List(fields.Nested(BuildSchema), required=True)


class LegacyRunRequestSchema(Schema):
    """Skia Fiddle 1.0's run request: width, height and source beside the code, no options."""

    class Meta:
        unknown = RAISE

    code = CodeField(required=True, metadata=CODE_JSON_SCHEMA)
    width = StrictInteger(validate=validate.Range(MIN_SIZE, MAX_SIZE))
    height = StrictInteger(validate=validate.Range(MIN_SIZE, MAX_SIZE))
    source = StrictInteger(validate=validate.Range(0, MAX_SOURCE_ID))
    version = VersionField(allow_none=True, metadata=VERSION_JSON_SCHEMA)
    fast = StrictBoolean()
    sources = StrictString()
    fiddlehash = StrictString()
    name = StrictString()
    overwrite = StrictBoolean()


class OutputSchema(Schema):
    """One output of the run, as the output registry (fiddle_protocol/outputs.py) describes it."""

    name = fields.String(required=True)
    stored = fields.String(required=True)
    url = fields.String(required=True)
    label = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    mime = fields.String(required=True)
    suffix = fields.String(required=True)


class BuildOutputSchema(Schema):
    url = fields.String(required=True)
    label = fields.String(required=True)
    mime = fields.String(required=True)


class FiddleBuildSchema(Schema):
    """The fiddle at one build: whether it ran there, and its outputs or error."""

    runid = fields.String(required=True)
    version = fields.String(required=True, metadata={"description": "The skia-python version."})
    milestone = fields.Integer(required=True)
    head = fields.Boolean(required=True)
    available = fields.Boolean(required=True, metadata={"description": "A runner has it."})
    status = fields.String(required=True)
    outputs = fields.List(fields.Nested(BuildOutputSchema), required=True)
    error = fields.String(required=True)


class FiddleJsonSchema(Schema):
    """`GET /e/<hash>`: every field of Skia Fiddle's FiddleContext with its type (so Skia's own
    components read it), then this service's: the newest run and its outputs."""

    version = fields.String(required=True, metadata={"description": "Of the newest run; ''."})
    sources = fields.String(
        required=True, metadata={"description": "A JSON array of the source images' ids."}
    )
    fiddlehash = fields.String(required=True, validate=HASH)
    code = fields.String(required=True)
    name = fields.String(required=True)
    overwrite = fields.Boolean(required=True)
    fast = fields.Boolean(required=True)
    options = fields.Nested(OptionsSchema, required=True)
    fiddleHash = fields.String(required=True, validate=HASH)
    runid = fields.String(required=True, allow_none=True)
    text = fields.String(required=True)
    outputs = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Stored output name -> its URL under /ai/."},
    )
    outputList = fields.List(fields.Nested(OutputSchema), required=True)
    notices = fields.List(fields.String(), required=True)
    sourceRemoved = fields.Boolean(required=True)
    outputErrors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Output name -> the traceback of its pass, which failed alone."},
    )
    builds = fields.List(fields.Nested(FiddleBuildSchema), required=True)
    gpu = fields.Nested(GpuSchema, required=True, allow_none=True)
    namedStatus = fields.Nested(
        "NamedStatusSchema",
        required=True,
        allow_none=True,
        metadata={"description": "For /e/@name: its status at the newest build checked."},
    )


class NameRequestSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    hash = fields.String(required=True, validate=HASH)
    overwrite = fields.Boolean(load_default=False)


class NameAnswerSchema(Schema):
    name = fields.String(required=True)
    hash = fields.String(required=True)
    creator = fields.String(required=True)
    url = fields.String(required=True)


class UploadAnswerSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)


class SourceSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    thumbnail = fields.String(required=True)
    name = fields.String(required=True)
    builtin = fields.Boolean(required=True, metadata={"description": "One of the six built in."})


class SourceListSchema(Schema):
    sources = fields.List(fields.Nested(SourceSchema), required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded"]))
    runner = fields.Dict(required=True, allow_none=True)
    sandbox = fields.String(allow_none=True)


class OEmbedSchema(Schema):
    version = fields.String(required=True)
    type = fields.String(required=True)
    provider_name = fields.String(required=True)
    provider_url = fields.String(required=True)
    title = fields.String(required=True)
    html = fields.String(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)


class DeletedSourceSchema(Schema):
    deleted = fields.Integer(required=True)
    fiddles = fields.List(fields.String(), required=True)
    job = fields.Nested("JobSchema", required=True)


class DeletedNameSchema(Schema):
    deleted = fields.String(required=True)


class NamedStatusSchema(Schema):
    """How a named fiddle ran at the newest build a rerun-named job checked (functions/jobs/)."""

    status = fields.String(
        required=True, validate=validate.OneOf(["ok", "changed", "broken", "failing"])
    )
    build = fields.String(required=True, metadata={"description": "The runid checked."})
    previous = fields.String(
        required=True, allow_none=True, metadata={"description": "The runid compared with."}
    )
    error = fields.String(
        required=True, metadata={"description": "broken/failing: its first line."}
    )
    compare = fields.String(
        required=True, allow_none=True, metadata={"description": "changed: the compare view."}
    )
    changedPixels = fields.Integer(required=True)
    checked = fields.Float(required=True, metadata={"description": "When, in seconds since 1970."})


class JobRequestSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["rerun-named", "rerun-fiddles"]))
    params = fields.Dict(
        load_default=dict,
        metadata={
            "description": 'rerun-named: {"build", "previous"} (versions; HEAD and the build'
            ' before it); rerun-fiddles: {"hashes": [...], "builds": [...] or "all"} (["HEAD"]).'
        },
    )


class JobProgressSchema(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    failures = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class JobFailureSchema(Schema):
    item = fields.String(required=True)
    outcome = fields.String(required=True)
    error = fields.String(required=True)


class JobSchema(Schema):
    """A job: its state (queued, running, done, failed, cancel, cancelling, cancelled) and
    progress; the list leaves out `failures`."""

    id = fields.String(required=True)
    kind = fields.String(required=True)
    params = fields.Dict(required=True)
    state = fields.String(required=True)
    progress = fields.Nested(JobProgressSchema, required=True)
    failures = fields.List(fields.Nested(JobFailureSchema))
    who = fields.String(required=True)
    created = fields.Float(required=True)
    updated = fields.Float(required=True)
    finished = fields.Float(required=True, allow_none=True)
    worker = fields.String(required=True, allow_none=True)
    lease_until = fields.Float(required=True, allow_none=True)
    error = fields.String(required=True)
    url = fields.String(required=True)


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema), required=True)
