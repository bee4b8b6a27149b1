"""The child's entry: forked from the zygote for one run, it confines itself, reads its request,
runs it and writes its report down its result pipe, then exits without unwinding into host code.

The report is hostile input to the host (the program runs in this process and may replace
`report` or write anything down the pipe itself): runner_vm/host/verdict.py reads it.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from fiddle_protocol.messages import RunRequest
from runner_vm.child import confine
from runner_vm.child.seccomp import SeccompFilter
from runner_vm.drawing import execute
from runner_vm.host import framing
from runner_vm.policy import Policy

# The child's exit status when the sandbox itself failed around the program.
SANDBOX_FAILED = 70


def child_main(
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
    }
