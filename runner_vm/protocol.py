"""The versioned JSON protocol between the functions and a runner.

The functions send code, options and the source image; the runner answers with errors, text and
the rendered outputs. Binary payloads travel base64-encoded. The runner never sees storage, and the
functions never see the sandbox: this module is all they share, so it stays small and has no
dependencies.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1

# Output names as stored under fiddle/<hash>/<runid>/ (SPEC section 5).
OUTPUT_NAMES = ("cpu.png", "gpu.png", "pdf.pdf", "skp.skp", "txt.txt", "cpu.webm", "gpu.webm")
# What a decode_image task answers: the normalised PNG and its thumbnails.
IMAGE_OUTPUT_NAMES = ("source.png", "thumb64.png", "thumb128.png", "thumb256.png")
TASKS = ("draw", "decode_image")


class ProtocolError(ValueError):
    """A message does not follow the protocol."""


@dataclass(frozen=True)
class CompileError:
    text: str
    line: int
    col: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "line": self.line, "col": self.col}


@dataclass(frozen=True)
class RunRequest:
    run_uuid: str
    code: str
    options: dict[str, Any]
    source_png: bytes | None = None
    # "draw" runs the code; "decode_image" decodes source_png (an upload) into a normalised PNG.
    task: str = "draw"

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "task": self.task,
            "run_uuid": self.run_uuid,
            "code": self.code,
            "options": self.options,
            "source_png": _b64(self.source_png) if self.source_png is not None else None,
        }

    @classmethod
    def from_json(cls, data: object) -> RunRequest:
        obj = _expect_message(data)
        source = obj.get("source_png")
        task = obj.get("task", "draw")
        if task not in TASKS:
            raise ProtocolError(f"unknown task {task!r}")
        return cls(
            task=task,
            run_uuid=_expect(obj, "run_uuid", str),
            code=_expect(obj, "code", str),
            options=_expect(obj, "options", dict),
            source_png=_unb64(source) if source is not None else None,
        )


@dataclass(frozen=True)
class RunResult:
    run_uuid: str
    runid: str = ""
    compile_errors: tuple[CompileError, ...] = ()
    runtime_error: str = ""
    text: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    duration_ms: float = 0.0

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
            "text": self.text,
            "outputs": {name: _b64(data) for name, data in self.outputs.items()},
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: object) -> RunResult:
        obj = _expect_message(data)
        outputs = _expect(obj, "outputs", dict)
        unknown = set(outputs) - set(OUTPUT_NAMES) - set(IMAGE_OUTPUT_NAMES)
        if unknown:
            raise ProtocolError(f"unknown outputs: {sorted(unknown)}")
        return cls(
            run_uuid=_expect(obj, "run_uuid", str),
            runid=_expect(obj, "runid", str),
            compile_errors=tuple(_compile_error(e) for e in _expect(obj, "compile_errors", list)),
            runtime_error=_expect(obj, "runtime_error", str),
            text=_expect(obj, "text", str),
            outputs={name: _unb64(value) for name, value in outputs.items()},
            duration_ms=float(obj.get("duration_ms", 0.0)),
        )


def _compile_error(data: object) -> CompileError:
    if not isinstance(data, dict):
        raise ProtocolError("a compile error must be an object")
    return CompileError(
        text=_expect(data, "text", str),
        line=_expect(data, "line", int),
        col=_expect(data, "col", int),
    )


def _expect_message(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError("a protocol message must be a JSON object")
    if data.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {data.get('protocol')!r}")
    return data


def _expect(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{key} must be of type {kind.__name__}")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError("binary fields must be base64 strings")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise ProtocolError("invalid base64 in a binary field") from error
