"""What the host makes of a child: the one place that turns the child's bytes and wait status into
the run's result fields.

Everything here is hostile input. The program runs in the child and holds the pipe its result
leaves by, so it may write anything down it (a forged frame, a forged SIGSYS report, JSON nested
a hundred thousand deep, gigabytes of text) and end in any way (any signal, any exit status).
`interpret` is total: whatever it is given, it returns a result with a clear `runtime_error`, and
never raises, so that no program can take its host down with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
from dataclasses import dataclass
from typing import Any

from runner_vm import cuts, framing
from runner_vm.policy import Limits
from runner_vm.protocol import IMAGE_OUTPUT_NAMES, OUTPUT_NAMES

SIGSYS_MARK = b"\x00SIGSYS "
# A syscall number as the child's SIGSYS handler writes it: a C int, at most 10 digits.
_NUMBER_DIGITS = 10
_OUTPUT_NAMES = frozenset(OUTPUT_NAMES) | frozenset(IMAGE_OUTPUT_NAMES)
# A genuine child sends at most one compile error; a few more cost nothing to read.
_MAX_COMPILE_ERRORS = 16
_MAX_POSITION = (1 << 31) - 1
_JSON_TYPES: dict[type, str] = {str: "string", list: "array", dict: "object"}
# Signals that mean the program itself went wrong; any other signal was sent to it.
_CRASHES = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP}
)


@dataclass
class ChildReport:
    """What the host saw of one child: its bytes, how it ended, and which limit stopped it."""

    data: bytes
    status: int
    limit: str = ""
    cpu_seconds: float = 0.0
    output_mib: int = 0  # the output cap the child was held to


class Tampered(ValueError):
    """The child's result is not what a child of ours writes; the message says what is wrong."""


def interpret(report: ChildReport, limits: Limits) -> dict[str, Any]:
    """The result's fields, with the limit the child hit (if any) under "limit"."""
    try:
        return _interpret(report, limits)
    except Exception as error:  # a last guard: nothing below is meant to raise
        return failure(f"the sandbox could not read the program's result ({error!r:.200})", "crash")


def failure(message: str, limit: str) -> dict[str, Any]:
    return {"runtime_error": message, "limit": limit}


def _interpret(report: ChildReport, limits: Limits) -> dict[str, Any]:
    limit_error = _limit_error(report, limits)
    if limit_error:
        return failure(limit_error[1], limit_error[0])
    if os.WIFSIGNALED(report.status):
        return failure(signal_description(os.WTERMSIG(report.status)), "crash")
    if not report.data:
        return failure(_ending(report.status), "crash")
    try:
        fields = checked(framing.read_frame_from_bytes(report.data))
    except (framing.FrameError, Tampered) as error:
        return failure(f"the program tampered with its result: {error}", "crash")
    if fields["runtime_error"].startswith("memory limit"):
        fields["limit"] = "memory"
    return fields


def _limit_error(report: ChildReport, limits: Limits) -> tuple[str, str] | None:
    if report.limit == "wall":
        return "wall", f"wall-clock limit of {limits.wall_clock_seconds:g} s exceeded"
    if report.limit == "output":
        return "output", f"output larger than {report.output_mib} MiB"
    syscall = sigsys_report(report.data)
    if syscall is not None:
        return "syscall", syscall
    if os.WIFSIGNALED(report.status):
        signo = os.WTERMSIG(report.status)
        if signo == signal.SIGXCPU or (
            signo == signal.SIGKILL and report.cpu_seconds >= limits.cpu_seconds
        ):
            return "cpu", f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if signo == signal.SIGSYS:
            # Killed without a report: signals were blocked, or the call came through another ABI.
            return "syscall", "forbidden system call"
    return None


def _ending(status: int) -> str:
    if os.WIFEXITED(status):
        return f"the program exited before finishing (status {os.WEXITSTATUS(status)})"
    return f"the program ended before finishing (wait status {status})"


# --------------------------------------------------------------------------------------------
# Names of calls and signals


def sigsys_report(data: bytes) -> str | None:
    """The error a SIGSYS report in the child's bytes stands for, or None without one."""
    at = data.find(SIGSYS_MARK)
    if at < 0:
        return None
    start = at + len(SIGSYS_MARK)
    token = data[start : start + _NUMBER_DIGITS + 2].split(b"\n", 1)[0]
    digits = token.removeprefix(b"-")
    if not digits.isdigit() or len(digits) > _NUMBER_DIGITS:
        return "forbidden system call"  # a report no handler of ours writes: name nothing
    return f"forbidden system call: {syscall_name(int(token))}"


def syscall_name(number: int) -> str:
    """libseccomp's name of the call, or its number where libseccomp has none (a call newer
    than the library, or no call at all)."""
    # Only a number a call can have: libseccomp takes a C int, and names some negative numbers.
    if not 0 <= number < 1 << 31:
        return f"number {number}"
    try:
        import pyseccomp

        name = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, number)
    except (ImportError, ValueError, OSError, OverflowError):
        name = None
    if isinstance(name, bytes) and name.isascii() and name:
        return name.decode("ascii")
    return f"number {number}"


def signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        pass
    if signal.SIGRTMIN < signo < signal.SIGRTMAX:
        return f"SIGRTMIN+{signo - signal.SIGRTMIN}"
    return ""


def signal_description(signo: int) -> str:
    name = signal_name(signo)
    if signo in _CRASHES:
        return f"the program crashed ({name})"
    return f"the program was killed by signal {signo}" + (f" ({name})" if name else "")


# --------------------------------------------------------------------------------------------
# The result frame's fields


def checked(message: Any) -> dict[str, Any]:
    """The result's fields, rebuilt from what the protocol allows (nothing of the child's own
    objects is passed on), with texts held to their caps. Raises Tampered."""
    if not isinstance(message, dict):
        raise Tampered("not a JSON object")
    runtime_error = _field(message, "runtime_error", str, "")
    text = _field(message, "text", str, "")
    return {
        "compile_errors": _compile_errors(_field(message, "compile_errors", list, [])),
        "runtime_error": cuts.cut_error(runtime_error),
        "text": cuts.cut_printed(text),
        "outputs": _outputs(_field(message, "outputs", dict, {})),
    }


def _field(message: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = message.get(key, default)
    if not isinstance(value, kind):
        raise Tampered(f"its {key} is not a JSON {_JSON_TYPES[kind]}")
    return value


def _compile_errors(errors: list[Any]) -> list[dict[str, Any]]:
    if len(errors) > _MAX_COMPILE_ERRORS:
        raise Tampered(f"{len(errors)} compile errors")
    return [_compile_error(error) for error in errors]


def _compile_error(error: Any) -> dict[str, Any]:
    if not isinstance(error, dict) or not isinstance(error.get("text"), str):
        raise Tampered("a compile error is not an object with a text")
    line, col = error.get("line"), error.get("col")
    for position in (line, col):
        if type(position) is not int or not 0 <= position <= _MAX_POSITION:
            raise Tampered("a compile error's position is not a line and column")
    return {"text": cuts.cut_error(error["text"]), "line": line, "col": col}


def _outputs(outputs: dict[str, Any]) -> dict[str, str]:
    for name, value in outputs.items():
        if name not in _OUTPUT_NAMES:
            raise Tampered(f"unknown output {name[:64]!r}")
        if not _is_base64(value):
            raise Tampered(f"output {name} is not base64")
    return dict(outputs)


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str) or not value.isascii():
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
