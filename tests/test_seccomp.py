"""The child's seccomp program, installed by the real kernel in a forked child of this process.

The programs here are harmless (everything allowed but the self-only calls), and the child only
sends signal 0, which checks that the call was allowed and delivers nothing.
"""

from __future__ import annotations

import os
import signal
import struct

import pytest

from runner_vm.seccomp import SeccompFilter

pyseccomp = pytest.importorskip("pyseccomp")
ALLOW_ALL = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)  # return ALLOW
KILL = int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "kill"))


def status_after(program: SeccompFilter, target: str) -> int:
    """How a child ended that loaded `program` and then sent signal 0 to `target` (exit status 3:
    the program could not be loaded)."""
    pid = os.fork()
    if pid == 0:
        try:
            program.forbid_new_privileges()
            program.load()
        except BaseException:
            os._exit(3)
        os.kill(os.getppid() if target == "parent" else os.getpid(), 0)
        os._exit(0)
    return os.waitpid(pid, 0)[1]


def test_a_self_only_call_traps_when_aimed_at_another_process() -> None:
    program = SeccompFilter(ALLOW_ALL, (KILL,))
    status = status_after(program, "parent")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_a_self_only_call_aimed_at_the_child_itself_reaches_the_filter() -> None:
    assert status_after(SeccompFilter(ALLOW_ALL, (KILL,)), "self") == 0


def test_without_self_only_calls_the_compiled_filter_is_loaded_as_it_is() -> None:
    # No prefix, so no pid to write: the compiled program must not be patched.
    assert status_after(SeccompFilter(ALLOW_ALL, ()), "parent") == 0
