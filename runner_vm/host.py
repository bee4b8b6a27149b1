"""The sandbox host: a long-lived process, inside the container, that forks one child per run.

It imports and warms Skia once, so a run costs a fork instead of an interpreter start. It talks to
the runner through frames on its stdin and stdout, and to each child only through a pipe (the
host/child split): the child holds nothing but that pipe. Run as `python -m runner_vm.host`.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from runner_vm import confine, execute, framing, render
from runner_vm.policy import Policy
from runner_vm.protocol import RunRequest

MIB = 1 << 20
_SIGSYS_MARK = b"\x00SIGSYS "


@dataclass
class ChildReport:
    """What the host saw of one child: its bytes, how it ended, and which limit stopped it."""

    data: bytes
    status: int
    limit: str = ""
    cpu_seconds: float = 0.0


@dataclass
class Spare:
    """A child forked and confined ahead of time, waiting for the one request it will ever run."""

    pid: int
    request_fd: int
    result_fd: int

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def discard(self) -> None:
        _kill_group(self.pid)
        for fd in (self.request_fd, self.result_fd):
            os.close(fd)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class Host:
    def __init__(self, policy: Policy, index: int) -> None:
        self.policy = policy
        self.index = index
        self.runs = 0
        self.reporter = confine.SigsysReporter()
        self.spare: Spare | None = None

    def next_uid(self) -> int:
        self.runs += 1
        slot = self.runs % self.policy.uids_per_host
        return self.policy.uid_base + self.index * self.policy.uids_per_host + slot

    def prepare_spare(self) -> None:
        """Fork and confine the next run's child now, while nobody is waiting for it."""
        if self.spare is None:
            self.spare = self._fork_child()

    def _take_spare(self) -> Spare:
        spare, self.spare = self.spare, None
        if spare is not None and spare.alive():
            return spare
        if spare is not None:
            spare.discard()
        return self._fork_child()

    def _fork_child(self) -> Spare:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        uid = self.next_uid()
        pid = os.fork()
        if pid == 0:
            os.close(request_write)
            os.close(result_read)
            _child_main(request_read, result_write, uid, self.policy, self.reporter)
        os.close(request_read)
        os.close(result_write)
        return Spare(pid, request_write, result_read)

    def run(self, raw_request: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        report = self._run_child(raw_request)
        result = interpret(report, self.policy)
        result["duration_ms"] = (time.perf_counter() - started) * 1000
        return result

    def _run_child(self, raw_request: bytes) -> ChildReport:
        child = self._take_spare()
        try:
            framing.write_all(child.request_fd, raw_request)
        except BrokenPipeError:
            pass  # the child died before reading; collect() reports how
        finally:
            os.close(child.request_fd)
        try:
            return collect(child.pid, child.result_fd, self.policy)
        finally:
            os.close(child.result_fd)


def _child_main(request_fd: int, result_fd: int, uid: int, policy: Policy, reporter: Any) -> None:
    """Never returns: the child ends with os._exit so no host cleanup code runs twice."""
    try:
        confine.confine(policy, (request_fd, result_fd), uid, reporter)
        request = RunRequest.from_json(framing.read_frame(request_fd))
        outcome = execute.run(request)
        framing.write_frame(result_fd, _outcome_json(outcome))
        os._exit(0)
    except BaseException as error:  # report anything, then die without unwinding into host code
        try:
            framing.write_frame(result_fd, {"runtime_error": f"the sandbox failed: {error}"})
        finally:
            os._exit(70)


def _outcome_json(outcome: execute.Outcome) -> dict[str, Any]:
    return {
        "compile_errors": [e.to_json() for e in outcome.compile_errors],
        "runtime_error": outcome.runtime_error,
        "text": outcome.text,
        "outputs": {
            k: base64.b64encode(v).decode("ascii") for k, v in (outcome.outputs or {}).items()
        },
    }


def collect(pid: int, pipe: int, policy: Policy) -> ChildReport:
    """Read the child's pipe until EOF, the wall clock runs out, or the output cap is passed."""
    limits = policy.limits
    deadline = time.monotonic() + limits.wall_clock_seconds
    cap = limits.output_mib * MIB + 4096
    chunks: list[bytes] = []
    size, limit = 0, ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            limit = "wall"
            break
        ready, _, _ = select.select([pipe], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(pipe, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            limit = "output"
            break
    if limit:
        _kill_group(pid)
    status, cpu = _reap(pid)
    return ChildReport(b"".join(chunks), status, limit, cpu)


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> tuple[int, float]:
    _, status, usage = os.wait4(pid, 0)
    return status, usage.ru_utime + usage.ru_stime


def interpret(report: ChildReport, policy: Policy) -> dict[str, Any]:
    """Turn how the child ended into the result's fields, naming the limit it hit."""
    limit_error = _limit_error(report, policy)
    if limit_error:
        return {"runtime_error": limit_error[1], "limit": limit_error[0]}
    try:
        message = framing.read_frame_from_bytes(report.data)
    except framing.FrameError:
        return {"runtime_error": _exit_description(report.status), "limit": "crash"}
    if isinstance(message, dict) and message.get("runtime_error", "").startswith("memory limit"):
        message["limit"] = "memory"
    return message if isinstance(message, dict) else {"runtime_error": "the sandbox sent garbage"}


def _limit_error(report: ChildReport, policy: Policy) -> tuple[str, str] | None:
    limits = policy.limits
    if report.limit == "wall":
        return "wall", f"wall-clock limit of {limits.wall_clock_seconds:g} s exceeded"
    if report.limit == "output":
        return "output", f"output larger than {limits.output_mib} MiB"
    if _SIGSYS_MARK in report.data:
        return "syscall", f"forbidden system call: {_syscall_name(report.data)}"
    if os.WIFSIGNALED(report.status):
        signo = os.WTERMSIG(report.status)
        if signo == signal.SIGXCPU or (
            signo == signal.SIGKILL and report.cpu_seconds >= limits.cpu_seconds
        ):
            return "cpu", f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if signo == signal.SIGSYS:
            return "syscall", "forbidden system call (outside the allowed ABI)"
    return None


def _syscall_name(data: bytes) -> str:
    tail = data[data.index(_SIGSYS_MARK) + len(_SIGSYS_MARK) :].split(b"\n", 1)[0]
    try:
        number = int(tail)
    except ValueError:
        return "unknown"
    import pyseccomp

    name = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, number)
    return name.decode() if isinstance(name, bytes) else str(number)


def _exit_description(status: int) -> str:
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return f"the program crashed ({name})"
    return f"the program exited before finishing (status {os.WEXITSTATUS(status)})"


def _take_protocol_streams() -> tuple[int, int]:
    """Keep stdin/stdout for frames only; anything else printing to fd 1 goes to /dev/null."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return in_fd, out_fd


def serve(policy: Policy, index: int) -> None:
    in_fd, out_fd = _take_protocol_streams()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    render.warm_up()
    import pyseccomp  # noqa: F401  -- its import runs ldconfig: never inside a child
    import skia

    host = Host(policy, index)
    host.prepare_spare()
    framing.write_frame(out_fd, {"ready": True, "pid": os.getpid(), "skia": skia.__version__})
    while True:
        try:
            raw_request = framing.read_raw_frame(in_fd)
        except framing.FrameError:
            return
        framing.write_frame(out_fd, host.run(raw_request))
        # Hold nothing of this run while the next child is forked: it would see it.
        del raw_request
        host.prepare_spare()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    policy = Policy.from_json(json.loads(args[0]))
    serve(policy, int(args[1]) if len(args) > 1 else 0)


if __name__ == "__main__":
    main()
