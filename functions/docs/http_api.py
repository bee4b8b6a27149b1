"""docs/http-api.md: the routes of the functions with their policies (functions/routes/, each
view's docstring), the run request and its answer (functions/schemas.py, functions/runs.py), the
output registry (fiddle_protocol/outputs.py), and the runner's own HTTP API with its messages
(runner_vm/service/server.py, fiddle_protocol/messages.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, cast

from flask import Flask

from fiddle_protocol import outputs
from fiddle_protocol.messages import PROTOCOL_VERSION, Limit, RunnerInfo, RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from functions.docs.markdown import block, code, first_paragraph, page, partial, plain_path, table
from functions.routing import FiddleBlueprint, RoutePolicy

TITLE = "The HTTP API"
SUMMARY = "every route with its policy, the run request, the outputs, the runner's own API"
# Methods every route answers besides its own.
_IMPLIED = {"HEAD", "OPTIONS"}
# What a blueprint of each kind holds, as its section says.
KIND_WORDS = {
    "api": "JSON API",
    "page": "pages",
    "embed": "pages other sites frame",
    "output": "outputs",
    "asset": "static files",
}


@dataclasses.dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str
    view: Callable[..., Any]
    blueprint: str


def render() -> str:
    return page(
        TITLE,
        partial("http-api-intro"),
        "## The functions' routes",
        partial("http-api-routes"),
        *(_blueprint_section(blueprint) for blueprint in _blueprints()),
        "## The run request",
        _run_request(),
        "## Outputs",
        partial("http-api-outputs"),
        _outputs_table(outputs.DRAW_OUTPUTS),
        "Decoding an upload (`/_/upload`) produces the image and its thumbnails, stored under"
        " `source/` and `thumbnail/` and served at `/s/<id>` (docs/storage.md):",
        _outputs_table(outputs.IMAGE_OUTPUTS, suffixes=False),
        "## The runner's API",
        partial("http-api-runner"),
        _route_table(_runner_routes()),
        _messages(),
    )


# --------------------------------------------------------------------------------------------
# The functions' routes


def _blueprints() -> tuple[FiddleBlueprint, ...]:
    from functions.routes import blueprints

    return blueprints()


def functions_routes() -> list[Route]:
    """Every route of the functions' blueprints, in the order the app registers them."""
    app = Flask("docs")
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    return _routes(app)


def _routes(app: Flask) -> list[Route]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = tuple(sorted((rule.methods or set()) - _IMPLIED))
        blueprint = rule.endpoint.rpartition(".")[0]
        view = app.view_functions[rule.endpoint]
        found.append(Route(methods, plain_path(rule.rule), view, blueprint))
    return found


def _blueprint_section(blueprint: FiddleBlueprint) -> str:
    routes = [route for route in functions_routes() if route.blueprint == blueprint.name]
    kind = blueprint.policy.kind.value
    parts = [
        f"### {code(blueprint.name)}: {KIND_WORDS.get(kind, kind)}",
        _policy_table(blueprint.policy),
    ]
    if routes:
        parts.append(_route_table(routes))
    else:
        parts.append("No routes of its own: its paths take this policy (see above).")
    return "\n\n".join(parts)


def _policy_table(policy: RoutePolicy) -> str:
    paths = ", ".join(code(path) for path in policy.paths) or "(none)"
    served = code(policy.target) if policy.routed else f"{code(policy.target)}, not routed"
    errors = "JSON" if policy.json_errors else "HTML page"
    cors = "any origin, no credentials" if policy.cors else "no"
    images = ", ".join(code(path) for path in policy.image_paths) or "none"
    return table(
        ["paths", "target", "errors", "CORS", "framing", "CSP", "image 404s without a body"],
        [[paths, served, errors, cors, policy.framing.value, policy.csp.value, images]],
    )


def _route_table(routes: list[Route]) -> str:
    rows = [
        [" ".join(route.methods), code(route.path), first_paragraph(route.view)] for route in routes
    ]
    return table(["method", "path", "what"], rows)


# --------------------------------------------------------------------------------------------
# The run request


def _run_request() -> str:
    from functions.runs import RunAnswer
    from functions.schemas import RunRequestSchema

    schema = RunRequestSchema()
    fields = [
        [code(field.data_key or name), _request_field(field)]
        for name, field in schema.declared_fields.items()
    ]
    # outputs and gpu are written through (`outputs`/`outputList`, gpu.to_json()), not as they are.
    keys = json_names(RunAnswer(fiddle_hash="", runid="", version=""), kept=("outputs", "gpu"))
    answer = [
        [code(keys[field.name]), field.metadata.get("doc", "")]
        for field in dataclasses.fields(RunAnswer)
    ]
    return "\n\n".join(
        [
            partial("http-api-run"),
            "Its body:",
            table(["field", "what"], fields),
            "Its answer (200):",
            table(["field", "what"], answer),
        ]
    )


def _request_field(field: Any) -> str:
    what = field.metadata.get("doc", "")
    if field.load_only:
        return f"Accepted and ignored: {what}"
    return f"Required. {what}" if field.required else what


def json_names(sample: Any, kept: tuple[str, ...] = ()) -> dict[str, str]:
    """attribute -> JSON key of a dataclass whose to_json() writes each field as it is under one
    key, found by giving every field a value of its own; the `kept` fields, which to_json reads
    instead of writing them as they are, keep the sample's values and their own names."""
    markers = {f.name: object() for f in dataclasses.fields(sample) if f.name not in kept}
    rendered = dataclasses.replace(sample, **markers).to_json()
    keys = {id(value): key for key, value in rendered.items()}
    found = {name: keys.get(id(marker), name) for name, marker in markers.items()}
    return {**found, **{name: name for name in kept}}


# --------------------------------------------------------------------------------------------
# Outputs


def _outputs_table(listed: tuple[outputs.Output, ...], suffixes: bool = True) -> str:
    headers = ["name", "stored as", "URL suffix", "type", "label", "shown as", "produced by",
               "checked to be"]  # fmt: skip
    rows = [
        [
            code(output.name), code(output.stored),
            code(output.suffix) if output.suffix else "", code(output.mime), output.label,
            output.kind.value, first_paragraph(output.produced_by),
            first_paragraph(output.verify),
        ]
        for output in listed
    ]  # fmt: skip
    if not suffixes:
        headers.pop(2)
        rows = [row[:2] + row[3:] for row in rows]
    return table(headers, rows)


# --------------------------------------------------------------------------------------------
# The runner's API and its messages


def _runner_routes() -> list[Route]:
    from runner_vm.service.events import EventBus
    from runner_vm.service.runner import RunnerService
    from runner_vm.service.server import create_runner_app

    class RoutesOnly:  # the runner's app without a runner behind it: its routes are all we read
        events = EventBus()

    return _routes(create_runner_app(cast(RunnerService, RoutesOnly())))


def _messages() -> str:
    request = RunRequest(
        "0b6e2f4a-5d1c-4f0e-9a3b-7c8d9e0f1a2b", "def draw(canvas):\n    print('hello')\n"
    )
    result = RunResult(
        request.run_uuid,
        "2025-11-18T00:00:00Z-144.1",
        text="hello\n",
        outputs={outputs.RASTER.stored: b"\x89PNG\r\n\x1a\n\x00", outputs.TEXT.stored: b"hello\n"},
        duration_ms=11.5,
    )
    info = RunnerInfo("2025-11-18T00:00:00Z-144.1", "144.1", "nspawn", hosts=6, busy=1)
    return "\n\n".join(
        [
            f"The messages (protocol {PROTOCOL_VERSION}, fiddle_protocol/messages.py), as JSON."
            " A run request, its `options` as in docs/options.md:",
            block(_shortened(request.to_json()), "json"),
            "A run's result (outputs base64-encoded, by their stored names; `limit` is null"
            " unless a limit stopped the run):",
            block(_shortened(result.to_json()), "json"),
            "What a runner says of itself (`GET /version`):",
            block(json.dumps(info.to_json(), indent=2), "json"),
            "A run stopped by a limit carries it as `limit` (`kind`, `value`, `unit`, `detail`)"
            " and as the sentence in `runtime_error`, with the numbers of the runner's policy"
            " (runner_vm/data/policy.toml):",
            _limits_table(),
        ]
    )


def _shortened(message: dict[str, Any]) -> str:
    """A message with its options on one line, so the example stays short."""
    text = json.dumps({**message, "options": "OPTIONS"} if "options" in message else message,
                      indent=2)  # fmt: skip
    options = json.dumps(FiddleOptions().to_json(), separators=(", ", ": "))
    return text.replace('"OPTIONS"', options)


def limit_examples() -> dict[str, Limit]:
    """One limit of each kind, with the numbers of the runner's policy."""
    from runner_vm.policy import load_policy

    policy = load_policy()
    limits, animation = policy.limits, policy.animation
    return {
        "cpu": Limit("cpu", limits.cpu_seconds, "s"),
        "wall": Limit("wall", limits.wall_clock_seconds, "s"),
        "memory": Limit("memory", limits.address_space_mib, "MiB"),
        "output": Limit("output", limits.output_mib, "MiB"),
        "processes": Limit("processes", limits.processes),
        "syscall": Limit("syscall", detail="socket"),
        "crash": Limit("crash", detail="the program crashed (SIGSEGV)"),
        "tampered": Limit("tampered", detail=f"output {outputs.RASTER.stored} is not a PNG"),
        "frames": Limit("frames", animation.max_frames, detail="1200"),
        "frame_pixels": Limit("frame_pixels", animation.max_pixel_frames, detail="400,000,000"),
        "encode": Limit("encode", animation.max_encode_seconds, "s"),
    }


def _limits_table() -> str:
    examples = limit_examples()
    rows = [[code(kind), code(examples[kind].sentence)] for kind in examples]
    return table(["kind", "runtime_error, for example"], rows)
