"""The sandbox host: a long-lived process, inside the container, that runs one request at a time in
a fresh child.

It imports and warms Skia once, so a run costs a fork instead of an interpreter start. It talks to
the runner service through frames on its stdin and stdout (host/exchange.py: per run, a header and
the request's bytes in; a summary and the result's bytes out), and to each child only through a
pipe: the child holds nothing but that pipe. Children are forked by the zygote (host/zygote.py),
never by the host itself. What a child sends back is read by host/verdict.py, which no program can
make fail, and which writes the RunResult the functions receive. Run as `python -m runner_vm.host`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.messages import Limit, RunResult
from runner_vm.child import main as child
from runner_vm.drawing import animation, gl, gpu, render
from runner_vm.host import framing, verdict
from runner_vm.host.collect import ChildReport, collect
from runner_vm.host.exchange import RunHeader, RunSummary
from runner_vm.host.zygote import Zygote
from runner_vm.policy import Policy
from runner_vm.sandbox import hiding


@dataclass
class Spare:
    """A child forked and confined ahead of time, waiting for the one request it will ever run."""

    pid: int
    request_fd: int
    result_fd: int

    def close(self) -> None:
        for fd in (self.request_fd, self.result_fd):
            os.close(fd)


class Host:
    def __init__(self, policy: Policy, index: int, gpu_status: GpuStatus | None = None) -> None:
        self.policy = policy
        self.index = index
        # The GPU every child of this host renders on (made before the zygote was forked).
        self.gpu = gpu_status or gl.status()
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

    def run(self, header: RunHeader, request: bytes) -> RunResult:
        started = time.perf_counter()
        refused = animation.refusal(header.options, self.policy.animation)
        if refused is not None:  # nothing is drawn: no child is used up for it
            return verdict.with_gpu(verdict.failed(header, refused), self.gpu)
        try:
            child = self._take_spare()
        except OSError as error:  # the zygote could not fork
            why = f"the sandbox could not start the program: {error.strerror}"
            return verdict.with_gpu(verdict.failed(header, Limit("crash", detail=why)), self.gpu)
        report = self._run_child(child, request, self.policy.limits.output_mib_for(header.task))
        result = verdict.judge(report, header, self.policy, self.gpu)
        return verdict.with_duration(result, started, time.perf_counter())

    def _run_child(self, child: Spare, request: bytes, output_mib: int) -> ChildReport:
        try:
            framing.write_bytes_frame(child.request_fd, request)
        except BrokenPipeError:
            pass  # the child died before reading; collect() reports how
        finally:
            os.close(child.request_fd)
        try:
            return collect(child.pid, child.result_fd, self.zygote, self.policy.limits, output_mib)
        finally:
            os.close(child.result_fd)


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
    gpu_status = warm_up(policy)
    import skia

    host = Host(policy, index, gpu_status)
    host.prepare_spare()
    ready = {"ready": True, "pid": os.getpid(), "skia": skia.__version__}
    framing.write_frame(out_fd, {**ready, "gpu": gpu_status.to_json()})
    while True:
        try:
            header = RunHeader.from_json(framing.read_frame(in_fd))
            request = framing.read_frame_body(in_fd)
        except framing.FrameError:
            return
        result = host.run(header, request)
        framing.write_frame(out_fd, RunSummary.of(result).to_json())
        framing.write_bytes_frame(out_fd, result.to_bytes())
        # Hold nothing of this run while the next child is forked: it would see it.
        del request, result
        host.prepare_spare()


def warm_up(policy: Policy) -> GpuStatus:
    """Everything every child would otherwise pay for, before the zygote is forked: Skia's
    encoders, the GL context and its common shaders (GL first, with its environment set before
    Mesa loads), an animation's frame read-back (PyAV itself only a child that encodes imports),
    and the child's own path. Nothing of any user's is drawn."""
    gpu_status = gl.set_up()
    render.warm_up()
    gpu.warm_up()
    try:
        import numpy  # noqa: F401  -- skia-python imports it lazily; its import calls mbind
    except ImportError:
        pass
    animation.configure(policy.animation)
    animation.warm_up()
    child.warm_up()
    return gpu_status


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    policy = Policy.from_json(json.loads(args[0]))
    gl.configure(args[2:])
    serve(policy, int(args[1]) if len(args) > 1 else 0, hide="--hide" in args[2:])
