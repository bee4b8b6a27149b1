"""Reading what a child sends back: its pipe until EOF, the wall clock, or the output cap."""

from __future__ import annotations

import os
import select
import signal
import time
from dataclasses import dataclass

from runner_vm.host.zygote import Zygote
from runner_vm.policy import Limits

MIB = 1 << 20
# Room above the output cap for the frame's own fields around the outputs.
_FRAME_ROOM = 4096


@dataclass
class ChildReport:
    """What the host saw of one child: its bytes, how it ended, and which limit stopped it."""

    data: bytes
    status: int
    limit: str = ""  # "wall" or "output" when the host stopped the child
    cpu_seconds: float = 0.0
    output_mib: int = 0  # the output cap the child was held to


def collect(pid: int, pipe: int, zygote: Zygote, limits: Limits, output_mib: int) -> ChildReport:
    """Read the child's pipe until EOF, the wall clock runs out, or the output cap is passed.

    EOF is not the end: a program may close its pipe and go on, so the wall clock runs until the
    child has ended.
    """
    deadline = time.monotonic() + limits.wall_clock_seconds
    chunks, limit = _read(pipe, deadline, output_mib * MIB + _FRAME_ROOM)
    ended = None if limit else zygote.ended(max(deadline - time.monotonic(), 0.1))
    if ended is None:
        limit = limit or "wall"
        _kill_group(pid)
        ended = zygote.wait()
    status, cpu = ended
    return ChildReport(b"".join(chunks), status, limit, cpu, output_mib)


def _read(pipe: int, deadline: float, cap: int) -> tuple[list[bytes], str]:
    """The chunks read, and "wall" or "output" when reading stopped at a limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return chunks, "wall"
        ready, _, _ = select.select([pipe], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(pipe, 1 << 20)
        if not chunk:
            return chunks, ""
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return chunks, "output"


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
