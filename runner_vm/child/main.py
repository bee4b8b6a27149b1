"""The child's entry: forked from the zygote for one run, it confines itself, reads its request,
runs it and writes its report down its result pipe, then exits without unwinding into host code.
Before each output pass it writes a mark naming the pass, so the frames on the pipe are the
marks of the passes begun, then the report.

The report is hostile input to the host (the program runs in this process and may replace
`report` or write anything down the pipe itself): runner_vm/host/verdict.py reads it.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from fiddle_protocol.messages import RunRequest
from fiddle_protocol.options import FiddleOptions
from runner_vm.child import confine, imports
from runner_vm.child.seccomp import SeccompFilter
from runner_vm.drawing import animation, execute, gl
from runner_vm.host import framing
from runner_vm.policy import Policy

# The child's exit status when the sandbox itself failed around the program.
SANDBOX_FAILED = 70
# Runs of the child's path in the host before the zygote is forked (see warm_up).
WARM_UP_RUNS = 40
_WARM_UP_CODE = "print('warm')\ndef draw(canvas):\n    canvas.drawCircle(4, 4, 3, skia.Paint())\n"


def child_main(
    request_fd: int,
    result_fd: int,
    uid: int,
    policy: Policy,
    guards: tuple[confine.SigsysReporter, SeccompFilter | None],
) -> None:
    """Never returns: the child ends with os._exit so no host cleanup code runs twice."""
    try:
        gl.mark_forked()
        confine.confine(policy, (request_fd, result_fd), uid, *guards)
        request = RunRequest.from_json(framing.read_frame(request_fd))
        animation.load_encoder(request.options)  # before the import finder, which would refuse it
        imports.allow_only_fiddle_imports()
        outcome = execute.run(request, lambda name: framing.write_frame(result_fd, mark(name)))
        framing.write_frame(result_fd, report(outcome))
        os._exit(0)
    except BaseException as error:  # report anything, then die without unwinding into host code
        try:
            framing.write_frame(result_fd, {"runtime_error": f"the sandbox failed: {error}"})
        finally:
            os._exit(SANDBOX_FAILED)


def report(outcome: execute.Outcome) -> dict[str, Any]:
    """The child's report of its run: what the host's verdict reads (runner_vm/host/verdict.py)."""
    limit = outcome.limit
    return {
        "compile_errors": [error.to_json() for error in outcome.compile_errors],
        "runtime_error": outcome.runtime_error,
        "limit": {"kind": limit.kind, "detail": limit.detail} if limit else None,
        "text": outcome.text,
        "outputs": {
            name: base64.b64encode(data).decode("ascii") for name, data in outcome.outputs.items()
        },
        "output_errors": outcome.output_errors,
    }


def mark(pass_name: str) -> dict[str, str]:
    """What the child writes down its result pipe before each pass, ahead of its report: a crash
    leaves no report, and the host then says in which pass it happened (host/verdict.py)."""
    return {"pass": pass_name}


def _encode_mark(pass_name: str) -> None:
    framing.encode(mark(pass_name))


def warm_up() -> None:
    """Run the child's whole path (read a request, run it, write the report) in the host, before
    the zygote is forked. Python specializes bytecode in place as it runs it: a child running a
    path for the first time writes into code objects it shares with the zygote, and each page
    written is copied (about a hundred per run, 0.3 ms of CPU, measured). Our own constant
    program: nothing of it is anyone's data."""
    for index in range(WARM_UP_RUNS):
        options = FiddleOptions(width=16, height=16, text_only=index % 4 == 3)
        message = framing.encode(RunRequest("warm-up", _WARM_UP_CODE, options).to_json())
        request = RunRequest.from_json(framing.read_frame_from_bytes(message))
        framing.encode(report(execute.run(request, _encode_mark)))
