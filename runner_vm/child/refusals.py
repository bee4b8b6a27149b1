"""Calls refused by name in the child, before the seccomp filter would kill them without one.

Python starts processes through helpers that block every signal around the call (posix_spawn and
vfork), so when the filter traps their clone or vfork, the child's SIGSYS report never runs and the
run could only end as an unnamed "forbidden system call". An audit hook refuses those helpers first
and says which one was called. The filter stays the guard: code that reaches the same calls another
way (ctypes into libc) is still killed.
"""

from __future__ import annotations

from typing import Any

# Audit events of the standard library's ways to start a process with signals blocked.
_PROCESS_STARTS = frozenset({"os.system", "os.posix_spawn", "subprocess.Popen"})


class ForbiddenCall(PermissionError):
    """A call the sandbox refuses by name: the run stops at the syscall limit, naming `call`."""

    def __init__(self, call: str) -> None:
        super().__init__(f"forbidden system call: {call}")
        self.call = call


def refuse_process_starts(event: str, _args: tuple[Any, ...]) -> None:
    """An audit hook (`sys.addaudithook`): raises before a process would be started."""
    if event in _PROCESS_STARTS:
        raise ForbiddenCall(f"starting a process ({event})")
