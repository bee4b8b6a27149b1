"""The messages between the functions and a runner service, as JSON over HTTP.

    POST /run      RunRequest  ->  RunResult (200), or {"error"} with 400, 401, 429 or 503
    GET /version   RunnerInfo;     GET /healthz  {"status": "ok", ...RunnerInfo}

Each message is written once and parsed once on the other side: the runner's sandbox host writes
the RunResult's JSON (runner_vm/host/verdict.py), the runner service sends those bytes as they are,
and the functions parse them (functions/runner_client.py). Binary payloads travel base64-encoded.
The functions and the runners are deployed together, so a message of another PROTOCOL_VERSION is
refused with a ProtocolError that says so, not half understood.

A run whose output passes (PDF, SKP, later GPU and animation) failed alone still succeeded: its
`output_errors` name each failed output with the user's traceback, and those outputs are absent.
The field is additive, so the protocol version stays: a result without it has no failed pass,
and functions older than it refuse a result missing an output (its registry check) rather than
store half of one.

A run stopped by a limit carries it twice: as a `Limit` (kind, value, unit) for programs, and as
the human sentence in `runtime_error`, which `Limit.sentence` writes from the policy's numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from fiddle_protocol import outputs
from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.options import FiddleOptions
from fiddle_protocol.versions import BuildInfo

# 3: a run names its build, a runner lists its builds, and diff_images compares two PNGs.
PROTOCOL_VERSION = 3
_MIB_PER_GIB = 1024


class ProtocolError(ValueError):
    """A message does not follow the protocol; the message says how."""


def _optional_flag(obj: dict[str, Any], key: str) -> bool:
    """A boolean that older senders of the same protocol leave out (false)."""
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"{key} must be a boolean, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class CompileError:
    text: str
    line: int
    col: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "line": self.line, "col": self.col}

    @classmethod
    def from_json(cls, data: object) -> CompileError:
        if not isinstance(data, dict):
            raise ProtocolError("a compile error must be an object")
        return cls(
            _expect(data, "text", str), _expect(data, "line", int), _expect(data, "col", int)
        )


# --------------------------------------------------------------------------------------------
# Limits


@dataclass(frozen=True)
class Limit:
    """What stopped a run, by kind, with the policy's number where the limit has one.

    kind: "cpu", "wall" (s; a cpu limit's detail says what it covered, e.g. a whole animation);
    "memory", "output" (MiB); "processes" (a count); "syscall" (detail: the call refused); "crash"
    (detail: how the program ended: a signal, an exit, a host failure); "tampered" (detail: what
    is wrong with the result the program sent); the animation's limits, refused before it is
    drawn: "frames" (a count; detail: the animation's), "frame_pixels" (pixels x frames; detail:
    the animation's), and "encode" (s of CPU spent encoding its videos).
    """

    kind: str
    value: float | None = None
    unit: str = ""
    detail: str = ""

    @property
    def sentence(self) -> str:
        """The run's runtime_error: the one place each limit's message is written."""
        return _SENTENCES.get(self.kind, _unknown)(self)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "unit": self.unit, "detail": self.detail}

    @classmethod
    def from_json(cls, data: object) -> Limit | None:
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ProtocolError("limit must be an object or null")
        value = data.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ProtocolError("limit value must be a number or null")
        return cls(
            _expect(data, "kind", str),
            value,
            _expect(data, "unit", str),
            _expect(data, "detail", str),
        )


def _number(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"


def _memory(limit: Limit) -> str:
    mib = limit.value or 0
    size = f"{mib / _MIB_PER_GIB:g} GiB" if mib and mib % _MIB_PER_GIB == 0 else f"{mib:g} MiB"
    return f"memory limit of {size} exceeded"


def _processes(limit: Limit) -> str:
    count = f" (the limit is {_number(limit.value)})" if limit.value is not None else ""
    return f"too many processes{count}"


def _syscall(limit: Limit) -> str:
    return f"forbidden system call: {limit.detail}" if limit.detail else "forbidden system call"


def _unknown(limit: Limit) -> str:
    return f"the run was stopped ({limit.kind}{': ' + limit.detail if limit.detail else ''})"


def _cpu(limit: Limit) -> str:
    covered = f" ({limit.detail})" if limit.detail else ""
    return f"CPU time limit of {_number(limit.value)} s exceeded{covered}"


def _frames(limit: Limit) -> str:
    return (
        f"the animation has {limit.detail} frames (60 a second, and frame 0), more than the "
        f"limit of {_number(limit.value)}"
    )


def _frame_pixels(limit: Limit) -> str:
    return (
        f"the animation has {limit.detail} pixels in all its frames (width x height x frames), "
        f"more than the limit of {int(limit.value or 0):,}"
    )


def _encode(limit: Limit) -> str:
    return f"encoding the animation took more than the limit of {_number(limit.value)} s of CPU"


_SENTENCES = {
    "cpu": _cpu,
    "frames": _frames,
    "frame_pixels": _frame_pixels,
    "encode": _encode,
    "wall": lambda limit: f"wall-clock limit of {_number(limit.value)} s exceeded",
    "memory": _memory,
    "output": lambda limit: f"output larger than {_number(limit.value)} MiB",
    "processes": _processes,
    "syscall": _syscall,
    "crash": lambda limit: limit.detail or "the program ended before finishing",
    "tampered": lambda limit: f"the program tampered with its result: {limit.detail}",
}
LIMIT_KINDS = tuple(_SENTENCES)


# --------------------------------------------------------------------------------------------
# A run


@dataclass(frozen=True)
class RunRequest:
    run_uuid: str
    code: str
    options: FiddleOptions = field(default_factory=FiddleOptions)
    source_png: bytes | None = None
    # "draw" runs the code; "decode_image" decodes source_png (an upload) into a normalised PNG;
    # "diff_images" compares source_png with compare_png (two builds' outputs of one fiddle).
    task: str = outputs.DRAW
    # The runid of the build to run at; "" for the runner's newest (HEAD).
    build: str = ""
    compare_png: bytes | None = None
    # A background run (a job's) takes a host only if one is idle and none is waited for, and
    # leaves one idle for interactive runs where the pool has more than one: else 429 at once.
    background: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "task": self.task,
            "run_uuid": self.run_uuid,
            "build": self.build,
            "background": self.background,
            "code": self.code,
            "options": self.options.to_json(),
            "source_png": _b64(self.source_png) if self.source_png is not None else None,
            "compare_png": _b64(self.compare_png) if self.compare_png is not None else None,
        }

    def to_bytes(self) -> bytes:
        return _dumps(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> RunRequest:
        obj = _expect_message(data)
        task = obj.get("task", outputs.DRAW)
        if task not in outputs.TASKS:
            raise ProtocolError(f"unknown task {task!r}")
        source, compare = obj.get("source_png"), obj.get("compare_png")
        return cls(
            task=task,
            run_uuid=_expect(obj, "run_uuid", str),
            code=_expect(obj, "code", str),
            options=_options(_expect(obj, "options", dict)),
            source_png=_unb64(source) if source is not None else None,
            build=_expect(obj, "build", str),
            compare_png=_unb64(compare) if compare is not None else None,
            background=_optional_flag(obj, "background"),
        )

    @classmethod
    def from_bytes(cls, body: bytes) -> RunRequest:
        return cls.from_json(_loads(body))


@dataclass(frozen=True)
class RunResult:
    run_uuid: str
    runid: str = ""
    compile_errors: tuple[CompileError, ...] = ()
    runtime_error: str = ""
    text: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    duration_ms: float = 0.0
    limit: Limit | None = None  # what stopped the run; runtime_error is its sentence
    # The GPU of the runner (its host's, written outside the program): whether the GPU outputs
    # were rendered, on what, or why not.
    gpu: GpuStatus = field(default_factory=GpuStatus)
    # Output name -> the user's traceback, for each output pass that failed alone (the run
    # succeeded without those outputs; fiddle_protocol/outputs.py says which passes may).
    output_errors: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return not self.compile_errors and not self.runtime_error

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "run_uuid": self.run_uuid,
            "runid": self.runid,
            "compile_errors": [error.to_json() for error in self.compile_errors],
            "runtime_error": self.runtime_error,
            "limit": self.limit.to_json() if self.limit else None,
            "text": self.text,
            "outputs": {name: _b64(data) for name, data in self.outputs.items()},
            "output_errors": self.output_errors,
            "duration_ms": self.duration_ms,
            "gpu": self.gpu.to_json(),
        }

    def to_bytes(self) -> bytes:
        return _dumps(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> RunResult:
        obj = _expect_message(data)
        produced = _expect(obj, "outputs", dict)
        unknown = sorted(name for name in produced if not outputs.known(name))
        if unknown:
            raise ProtocolError(f"unknown outputs: {unknown}")
        return cls(
            run_uuid=_expect(obj, "run_uuid", str),
            runid=_expect(obj, "runid", str),
            compile_errors=tuple(
                CompileError.from_json(e) for e in _expect(obj, "compile_errors", list)
            ),
            runtime_error=_expect(obj, "runtime_error", str),
            limit=Limit.from_json(obj.get("limit")),
            text=_expect(obj, "text", str),
            outputs={name: _unb64(value) for name, value in produced.items()},
            duration_ms=_duration(obj.get("duration_ms", 0.0)),
            gpu=_gpu(obj.get("gpu")),
            output_errors=_output_errors(obj.get("output_errors", {})),
        )

    @classmethod
    def from_bytes(cls, body: bytes) -> RunResult:
        return cls.from_json(_loads(body))


# --------------------------------------------------------------------------------------------
# The runner


@dataclass(frozen=True)
class RunnerInfo:
    """What a runner service says of itself on /version and /healthz: its newest Skia build
    (HEAD: `runid`, `skia_python`), every build it serves (`builds`, newest first, each saying
    whether it is warm and with how many hosts), its sandbox, and how loaded its pools of hosts
    are. Grows with the runner (GPU) as fields with defaults, so older answers still read."""

    runid: str
    skia_python: str
    sandbox: str
    hosts: int  # every warm host, of every build
    busy: int = 0
    waiting: int = 0
    turned_away: int = 0  # runs answered 429 at once so far
    builds: tuple[BuildInfo, ...] = ()
    warm_builds: int = 0  # how many builds besides HEAD it keeps warm at most
    protocol: int = PROTOCOL_VERSION
    gpu: GpuStatus = field(default_factory=GpuStatus)  # its hosts' GPU, or why it has none

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "runid": self.runid,
            "skia_python": self.skia_python,
            "sandbox": self.sandbox,
            "hosts": self.hosts,
            "busy": self.busy,
            "waiting": self.waiting,
            "turned_away": self.turned_away,
            "gpu": self.gpu.to_json(),
            "builds": [build.to_json() for build in self.builds],
            "warm_builds": self.warm_builds,
        }

    @classmethod
    def from_json(cls, data: object) -> RunnerInfo:
        obj = _expect_message(data)
        counts = {key: obj.get(key, 0) for key in ("busy", "waiting", "turned_away", "warm_builds")}
        for key, value in counts.items():
            if type(value) is not int:
                raise ProtocolError(f"{key} must be of type int")
        return cls(
            runid=_expect(obj, "runid", str),
            skia_python=_expect(obj, "skia_python", str),
            sandbox=_expect(obj, "sandbox", str),
            hosts=_expect(obj, "hosts", int),
            gpu=_gpu(obj.get("gpu")),
            builds=_builds(obj.get("builds", [])),
            **counts,
        )


# --------------------------------------------------------------------------------------------
# Reading and writing


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def _loads(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ProtocolError("the message is not JSON") from error


def _expect_message(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError("a protocol message must be a JSON object")
    version = data.get("protocol")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the message is protocol version {version!r}, this side speaks {PROTOCOL_VERSION}: "
            "the functions and the runners must be deployed together"
        )
    return data


def _expect(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{key} must be of type {kind.__name__}")
    return value


def _options(data: dict[str, Any]) -> FiddleOptions:
    try:
        return FiddleOptions.from_json(data)
    except (TypeError, ValueError, OverflowError) as error:
        raise ProtocolError(f"the options are not valid fiddle options ({error})") from error


def _gpu(data: object) -> GpuStatus:
    try:
        return GpuStatus.from_json(data)
    except ValueError as error:
        raise ProtocolError(str(error)) from error


def _builds(value: object) -> tuple[BuildInfo, ...]:
    if not isinstance(value, list):
        raise ProtocolError("builds must be of type list")
    try:
        return tuple(BuildInfo.from_json(build) for build in value)
    except ValueError as error:
        raise ProtocolError(str(error)) from error


def _output_errors(value: object) -> dict[str, str]:
    """Output name -> error; absent in a message of a runner that reports none."""
    if not isinstance(value, dict):
        raise ProtocolError("output_errors must be an object")
    for name, error in value.items():
        if outputs.by_name(name) is None:
            raise ProtocolError(f"output_errors name an unknown output {name[:64]!r}")
        if not isinstance(error, str):
            raise ProtocolError("output_errors must map output names to strings")
    return dict(value)


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("duration_ms must be a number")
    return float(value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError("binary fields must be base64 strings")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("invalid base64 in a binary field") from error
