"""The sandbox host: a long-lived process, inside the container, that forks one child per run.

It imports and warms Skia once, so a run costs a fork instead of an interpreter start. It talks to
the runner through frames on its stdin and stdout (per run: a header naming the task, then the
request, which the host passes on unparsed), and to each child only through a pipe (the
host/child split): the child holds nothing but that pipe. What comes back is read by
`results.interpret`, which no program can make fail. Run as `python -m runner_vm.host`.

The children are not forked from the host itself but from its zygote, a copy of the host made right
after warm-up that never sees a request or a result: a child forked from the host would inherit
what earlier runs left in the host's memory (live objects and freed buffers alike, readable with
ctypes).
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from runner_vm import confine, execute, framing, hiding, render
from runner_vm.policy import Policy
from runner_vm.protocol import RunRequest
from runner_vm.results import ChildReport, interpret
from runner_vm.seccomp import SeccompFilter

MIB = 1 << 20
# What the zygote tells the host: a pid and an errno after a fork, a pid, its wait status and its
# CPU seconds once that child has ended.
_ZYGOTE_REPLY = struct.Struct("=iid")
_PR_SET_PDEATHSIG = 1


@dataclass
class Spare:
    """A child forked and confined ahead of time, waiting for the one request it will ever run."""

    pid: int
    request_fd: int
    result_fd: int

    def close(self) -> None:
        for fd in (self.request_fd, self.result_fd):
            os.close(fd)


class ZygoteDied(RuntimeError):
    """The zygote is gone: the host cannot start children any more and must be replaced."""


class Zygote:
    """The clean process every child is forked from, one at a time, on the host's word.

    It forks a child with the two pipe ends the host hands it, answers with the child's pid, and
    reports the child's wait status and CPU time once it has ended. The host still talks to the
    child only through those pipes, and kills it when a limit is hit.
    """

    def __init__(self, policy: Policy) -> None:
        # Compiled apart so that this process, and so the zygote, never imports pyseccomp.
        seccomp = SeccompFilter.compile_apart(policy) if policy.use_seccomp else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            _zygote_main(theirs, policy, host_pid, seccomp)
        theirs.close()
        self.socket = ours

    def fork(self, uid: int, request_fd: int, result_fd: int) -> int:
        socket.send_fds(self.socket, [b"%d" % uid], [request_fd, result_fd])
        pid, error, _ = self._receive()
        if pid <= 0:
            raise OSError(error, os.strerror(error))
        return pid

    def ended(self, timeout: float) -> tuple[int, float] | None:
        """The wait status and CPU seconds of the current child, or None while it still runs."""
        ready, _, _ = select.select([self.socket], [], [], max(timeout, 0.0))
        return self.wait() if ready else None

    def wait(self) -> tuple[int, float]:
        """The wait status and CPU seconds of the current child, once it has ended."""
        _, status, cpu = self._receive()
        return status, cpu

    def _receive(self) -> tuple[int, int, float]:
        try:
            reply = self.socket.recv(_ZYGOTE_REPLY.size)
        except OSError as error:
            raise ZygoteDied(str(error)) from error
        if len(reply) != _ZYGOTE_REPLY.size:
            raise ZygoteDied("the zygote has gone")
        pid, status, cpu = _ZYGOTE_REPLY.unpack(reply)
        return pid, status, cpu


def _zygote_main(
    channel: socket.socket, policy: Policy, host_pid: int, seccomp: SeccompFilter | None
) -> None:
    """Never returns: forks a child per request of the host and reports how each one ended."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != host_pid:
            return
        confine.close_other_descriptors((channel.fileno(),))
        reporter = confine.SigsysReporter()
        confine.prepare_zygote(policy, reporter, seccomp)
        while True:
            message, fds, _, _ = socket.recv_fds(channel, 32, 2)
            if not message or len(fds) != 2:
                return
            request_fd, result_fd = fds
            try:
                pid, error = os.fork(), 0
            except OSError as failure:
                pid, error = -1, failure.errno or 0
            if pid == 0:
                _child_main(request_fd, result_fd, int(message), policy, (reporter, seccomp))
            os.close(request_fd)
            os.close(result_fd)
            channel.send(_ZYGOTE_REPLY.pack(pid, error, 0.0))
            if pid > 0:
                _, status, usage = os.wait4(pid, 0)
                channel.send(_ZYGOTE_REPLY.pack(pid, status, usage.ru_utime + usage.ru_stime))
    finally:
        os._exit(0)


class Host:
    def __init__(self, policy: Policy, index: int) -> None:
        self.policy = policy
        self.index = index
        self.runs = 0
        self.zygote = Zygote(policy)
        self.spare: Spare | None = None

    def next_uid(self) -> int:
        self.runs += 1
        slot = self.runs % self.policy.uids_per_host
        return self.policy.uid_base + self.index * self.policy.uids_per_host + slot

    def prepare_spare(self) -> None:
        """Fork and confine the next run's child now, while nobody is waiting for it."""
        if self.spare is None:
            try:
                self.spare = self._fork_child()
            except OSError:
                pass  # the next run tries again, and reports why it cannot start

    def _take_spare(self) -> Spare:
        spare, self.spare = self.spare, None
        if spare is not None and self.zygote.ended(0) is None:
            return spare
        if spare is not None:  # it died waiting (the zygote has reaped it)
            spare.close()
        return self._fork_child()

    def _fork_child(self) -> Spare:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            pid = self.zygote.fork(self.next_uid(), request_read, result_write)
        except OSError:
            os.close(request_write)
            os.close(result_read)
            raise
        finally:
            os.close(request_read)
            os.close(result_write)
        return Spare(pid, request_write, result_read)

    def run(self, raw_request: bytes, task: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            child = self._take_spare()
        except OSError as error:  # the zygote could not fork
            return {"runtime_error": f"the sandbox could not start the program: {error.strerror}"}
        report = self._run_child(child, raw_request, self.policy.limits.output_mib_for(task))
        result = interpret(report, self.policy.limits)
        result["duration_ms"] = (time.perf_counter() - started) * 1000
        return result

    def _run_child(self, child: Spare, raw_request: bytes, output_mib: int) -> ChildReport:
        try:
            framing.write_all(child.request_fd, raw_request)
        except BrokenPipeError:
            pass  # the child died before reading; collect() reports how
        finally:
            os.close(child.request_fd)
        try:
            return collect(child.pid, child.result_fd, self.zygote, self.policy, output_mib)
        finally:
            os.close(child.result_fd)


def _child_main(
    request_fd: int,
    result_fd: int,
    uid: int,
    policy: Policy,
    guards: tuple[confine.SigsysReporter, SeccompFilter | None],
) -> None:
    """Never returns: the child ends with os._exit so no host cleanup code runs twice."""
    try:
        confine.confine(policy, (request_fd, result_fd), uid, *guards)
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


def collect(pid: int, pipe: int, zygote: Zygote, policy: Policy, output_mib: int) -> ChildReport:
    """Read the child's pipe until EOF, the wall clock runs out, or the output cap is passed.

    EOF is not the end: a program may close its pipe and go on, so the wall clock runs until the
    child has ended.
    """
    limits = policy.limits
    deadline = time.monotonic() + limits.wall_clock_seconds
    cap = output_mib * MIB + 4096
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
    ended = None if limit else zygote.ended(max(deadline - time.monotonic(), 0.1))
    if ended is None:
        limit = limit or "wall"
        _kill_group(pid)
        ended = zygote.wait()
    status, cpu = ended
    return ChildReport(b"".join(chunks), status, limit, cpu, output_mib)


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _take_protocol_streams() -> tuple[int, int]:
    """Keep stdin/stdout for frames only; anything else printing to fd 1 goes to /dev/null."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return in_fd, out_fd


def serve(policy: Policy, index: int, hide: bool = False) -> None:
    if hide:  # before anything could open what it hides
        hiding.hide_in_container(policy)
    in_fd, out_fd = _take_protocol_streams()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    render.warm_up()
    import skia

    try:
        import numpy  # noqa: F401  -- skia-python imports it lazily; its import calls mbind
    except ImportError:
        pass

    host = Host(policy, index)
    host.prepare_spare()
    framing.write_frame(out_fd, {"ready": True, "pid": os.getpid(), "skia": skia.__version__})
    while True:
        try:
            header = framing.read_frame(in_fd)
            raw_request = framing.read_raw_frame(in_fd)
        except framing.FrameError:
            return
        framing.write_frame(out_fd, host.run(raw_request, str(header.get("task", "draw"))))
        # Hold nothing of this run while the next child is forked: it would see it.
        del raw_request
        host.prepare_spare()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    policy = Policy.from_json(json.loads(args[0]))
    serve(policy, int(args[1]) if len(args) > 1 else 0, hide="--hide" in args[2:])


if __name__ == "__main__":
    main()
