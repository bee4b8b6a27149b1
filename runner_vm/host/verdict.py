"""What the host makes of a child: the one place that turns the child's bytes and wait status into
the run's RunResult, the message the functions receive.

Everything here is hostile input. The program runs in the child and holds the pipe its result
leaves by, so it may write anything down it (a forged frame, a forged SIGSYS report, JSON nested
a hundred thousand deep, gigabytes of text, outputs of any name and content) and end in any way
(any signal, any exit status). A genuine child writes a mark before each output pass, then its
report, so that a crash can be placed in its pass. `judge` is total: whatever it is given, it
returns a result with a clear `runtime_error`, and never raises, so that no program can take its
host down with it. A result it passes holds exactly the outputs the run produces (less those
whose pass failed alone, named in its output_errors), each checked to be what it claims
(fiddle_protocol/outputs.py), and every limit with the policy's number.

The runner service passes the result on without reading it: this is the runner's last check.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import signal
from typing import Any

from fiddle_protocol import outputs
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.messages import CompileError, Limit, RunResult
from runner_vm import cuts
from runner_vm.drawing.animation import frame_count
from runner_vm.host import framing
from runner_vm.host.collect import ChildReport
from runner_vm.host.exchange import RunHeader
from runner_vm.policy import Limits, Policy

SIGSYS_MARK = b"\x00SIGSYS "
# A syscall number as the child's SIGSYS handler writes it: a C int, at most 10 digits.
_NUMBER_DIGITS = 10
# A genuine child sends at most one compile error; a few more cost nothing to read.
_MAX_COMPILE_ERRORS = 16
_MAX_POSITION = (1 << 31) - 1
# The limits a child reports itself (the others the host sees from outside), and the most of a
# refused call's name it may give.
_CHILD_LIMITS = frozenset({"memory", "processes", "syscall", "encode"})
_MAX_DETAIL = 256
_JSON_TYPES: dict[type, str] = {str: "string", list: "array", dict: "object"}
# The pass marks a child writes before its report: a frame of {"pass": NAME} each, at most one
# per output a run may render (a few more cost nothing to read).
_MAX_MARKS = 16
_MAX_MARK_BYTES = 64
_MARK = re.compile(rb'\{"pass":"([a-z][a-z0-9_]{0,31})"\}')
# Signals that mean the program itself went wrong; any other signal was sent to it.
_CRASHES = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP}
)


class Tampered(ValueError):
    """The child's result is not what a child of ours writes; the message says what is wrong."""


def judge(
    report: ChildReport, header: RunHeader, policy: Policy, gpu: GpuStatus | None = None
) -> RunResult:
    """The run's result: the child's own, checked, or the limit or failure that ended it; with
    the host's GPU (by which the outputs are checked), never the child's word for it."""
    gpu = gpu or GpuStatus(reason="the sandbox host has no GPU")
    try:
        return with_gpu(_judge(report, header, policy, gpu), gpu)
    except Exception as error:  # a last guard: nothing below is meant to raise
        why = f"the sandbox could not read the program's result ({error!r:.200})"
        return with_gpu(failed(header, Limit("crash", detail=why)), gpu)


def with_gpu(result: RunResult, gpu: GpuStatus) -> RunResult:
    return dataclasses.replace(result, gpu=gpu)


def failed(header: RunHeader, limit: Limit, text: str = "") -> RunResult:
    """A run stopped by `limit`: no outputs, only its sentence and what the program printed."""
    return RunResult(
        header.run_uuid, header.runid, runtime_error=limit.sentence, text=text, limit=limit
    )


def _judge(report: ChildReport, header: RunHeader, policy: Policy, gpu: GpuStatus) -> RunResult:
    limits = policy.limits
    begun, rest = pass_marks(report.data)
    limit = _limit_hit(report, header, limits, gpu) or _ending(report.status, bool(rest), begun)
    if limit:
        return failed(header, limit)
    try:
        result = _reported(framing.read_frame_from_bytes(rest), header, policy)
    except (framing.FrameError, Tampered) as error:
        return failed(header, Limit("tampered", detail=str(error)))
    facts = RunFacts(header.options, result.text, frozenset(result.output_errors), gpu=gpu)
    problem = outputs.problem(header.task, facts, result.outputs, result.succeeded)
    if problem:
        return failed(header, Limit("tampered", detail=problem), result.text)
    return result


def _limit_hit(
    report: ChildReport, header: RunHeader, limits: Limits, gpu: GpuStatus
) -> Limit | None:
    """A limit the host saw the child run into (its own reports are read with its result)."""
    if report.limit == "wall":
        return Limit("wall", limits.wall_clock_seconds, "s")
    if report.limit == "output":
        return Limit("output", report.output_mib, "MiB")
    syscall = sigsys_report(report.data)
    if syscall is not None:
        return Limit("syscall", detail=syscall)
    if os.WIFSIGNALED(report.status):
        signo = os.WTERMSIG(report.status)
        if signo == signal.SIGXCPU or (
            signo == signal.SIGKILL and report.cpu_seconds >= limits.cpu_seconds
        ):
            return Limit("cpu", limits.cpu_seconds, "s", _cpu_covered(header, gpu))
        if signo == signal.SIGSYS:
            # Killed without a report: signals were blocked, or the call came through another ABI.
            return Limit("syscall")
    return None


def _cpu_covered(header: RunHeader, gpu: GpuStatus) -> str:
    """What the CPU limit of an animated run covered: every frame of every video, and their
    encoding (one limit for the whole run, not one per frame)."""
    options = header.options
    if not options.animated or options.text_only:
        return ""
    frames = frame_count(options)
    drawn = f"{frames} frames on the CPU" + (f" and {frames} on the GPU" if gpu.available else "")
    return f"the limit covers the whole animation: {drawn}, their encoding, and the other outputs"


def _ending(status: int, reported: bool, begun: list[str]) -> Limit | None:
    """How the child ended, when that ended the run before it could report, with the pass it
    was in (the last it marked begun)."""
    if os.WIFSIGNALED(status):
        why = signal_description(os.WTERMSIG(status))
    elif reported:
        return None
    elif os.WIFEXITED(status):
        why = f"the program exited before finishing (status {os.WEXITSTATUS(status)})"
    else:
        why = f"the program ended before finishing (wait status {status})"
    return Limit("crash", detail=f"{why} in the {begun[-1]} pass" if begun else why)


def pass_marks(data: bytes) -> tuple[list[str], bytes]:
    """The passes a child marked begun at the start of its bytes (runner_vm/child/main.py,
    `mark`; at most _MAX_MARKS), and the bytes after them, where its report is."""
    begun: list[str] = []
    at = 0
    while len(begun) < _MAX_MARKS:
        name, size = _mark_at(data, at)
        if name is None:
            break
        begun.append(name)
        at += size
    return begun, data[at:] if at else data


def _mark_at(data: bytes, at: int) -> tuple[str | None, int]:
    """The pass named by a mark frame at `at`, and the frame's size; None if there is none."""
    header = framing.HEADER.size
    if len(data) - at < header:
        return None, 0
    (size,) = framing.HEADER.unpack_from(data, at)
    if size > _MAX_MARK_BYTES or len(data) - at - header < size:
        return None, 0
    match = _MARK.fullmatch(data[at + header : at + header + size])
    return (match.group(1).decode("ascii"), header + size) if match else (None, 0)


# --------------------------------------------------------------------------------------------
# Names of calls and signals


def sigsys_report(data: bytes) -> str | None:
    """The call a SIGSYS report in the child's bytes names ("" for none), or None without one."""
    at = data.find(SIGSYS_MARK)
    if at < 0:
        return None
    start = at + len(SIGSYS_MARK)
    token = data[start : start + _NUMBER_DIGITS + 2].split(b"\n", 1)[0]
    digits = token.removeprefix(b"-")
    if not digits.isdigit() or len(digits) > _NUMBER_DIGITS:
        return ""  # a report no handler of ours writes: name nothing
    return syscall_name(int(token))


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
# The child's report


def _reported(message: Any, header: RunHeader, policy: Policy) -> RunResult:
    """The result the child reported, rebuilt from what the protocol allows (nothing of the
    child's own objects is passed on), with texts held to their caps. Raises Tampered."""
    if not isinstance(message, dict):
        raise Tampered("not a JSON object")
    compile_errors = _compile_errors(_field(message, "compile_errors", list, []))
    runtime_error = cuts.cut_error(_field(message, "runtime_error", str, ""))
    text = cuts.cut_printed(_field(message, "text", str, ""))
    produced = _outputs(_field(message, "outputs", dict, {}))
    output_errors = _output_errors(_field(message, "output_errors", dict, {}), header.task)
    limit = _child_limit(message.get("limit"), policy)
    return RunResult(
        header.run_uuid,
        header.runid,
        compile_errors=compile_errors,
        runtime_error=limit.sentence if limit else runtime_error,
        text=text,
        outputs=produced,
        output_errors=output_errors,
        limit=limit,
    )


def _output_errors(reported: dict[str, Any], task: str) -> dict[str, str]:
    """Output name -> its error, for the passes that failed alone; which may fail so is the
    registry's to say (outputs.problem)."""
    errors = {}
    for name, error in reported.items():
        if outputs.by_name(name, task) is None:
            raise Tampered(f"its output_errors name an unknown output {name[:64]!r}")
        if not isinstance(error, str):
            raise Tampered(f"its output error of {name} is not a JSON string")
        errors[name] = cuts.cut_error(error)
    return errors


def _field(message: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = message.get(key, default)
    if not isinstance(value, kind):
        raise Tampered(f"its {key} is not a JSON {_JSON_TYPES[kind]}")
    return value


def _compile_errors(errors: list[Any]) -> tuple[CompileError, ...]:
    if len(errors) > _MAX_COMPILE_ERRORS:
        raise Tampered(f"{len(errors)} compile errors")
    return tuple(_compile_error(error) for error in errors)


def _compile_error(error: Any) -> CompileError:
    if not isinstance(error, dict) or not isinstance(error.get("text"), str):
        raise Tampered("a compile error is not an object with a text")
    line, col = error.get("line"), error.get("col")
    for position in (line, col):
        if type(position) is not int or not 0 <= position <= _MAX_POSITION:
            raise Tampered("a compile error's position is not a line and column")
    return CompileError(cuts.cut_error(error["text"]), line, col)  # type: ignore[arg-type]


def _child_limit(reported: Any, policy: Policy) -> Limit | None:
    """A limit the child ran into inside itself, with the policy's number (not the child's)."""
    if reported is None:
        return None
    if not isinstance(reported, dict) or reported.get("kind") not in _CHILD_LIMITS:
        raise Tampered("its limit is not one a program reports")
    detail = reported.get("detail", "")
    if not isinstance(detail, str) or len(detail) > _MAX_DETAIL:
        raise Tampered("its limit's detail is not a short string")
    kind, limits = reported["kind"], policy.limits
    if kind == "encode":
        return Limit("encode", policy.animation.max_encode_seconds, "s")
    if kind == "memory":
        return Limit("memory", limits.address_space_mib, "MiB")
    if kind == "processes":
        return Limit("processes", limits.processes)
    return Limit("syscall", detail=cuts.utf8(detail).decode("utf-8"))


def _outputs(produced: dict[str, Any]) -> dict[str, bytes]:
    decoded = {}
    for name, value in produced.items():
        if not outputs.known(name):
            raise Tampered(f"unknown output {name[:64]!r}")
        decoded[name] = _base64(name, value)
    return decoded


def _base64(name: str, value: Any) -> bytes:
    if not isinstance(value, str) or not value.isascii():
        raise Tampered(f"output {name} is not base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Tampered(f"output {name} is not base64") from error


def with_duration(result: RunResult, started: float, ended: float) -> RunResult:
    return dataclasses.replace(result, duration_ms=(ended - started) * 1000)
