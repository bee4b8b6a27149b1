"""The child's seccomp program, installed by the real kernel in a forked child of this process.

The programs here are harmless (everything allowed but what a guard of the prefix refuses), and the
child only makes calls that change nothing: signal 0 (which checks that the call was allowed and
delivers nothing) and sigaction with no new action.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
from dataclasses import replace

import pytest

from runner_vm.child.seccomp import Guard, SeccompFilter, build_filter
from runner_vm.policy import ConditionalRule, load_policy

pyseccomp = pytest.importorskip("pyseccomp")
ALLOW_ALL = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)  # return ALLOW
KILL = int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "kill"))
RT_SIGACTION = int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "rt_sigaction"))
HIGH_BIT = 1 << 32
SELF_ONLY_KILL = (Guard(KILL, 0, None),)
NO_SIGSYS_HANDLER = (Guard(RT_SIGACTION, 0, int(signal.SIGSYS)),)


def status_after(program: SeccompFilter, *call: int) -> int:
    """How a child ended that loaded `program` and then made the raw call `call` (exit status 3:
    the program could not be loaded)."""
    pid = os.fork()
    if pid == 0:
        try:
            syscall = ctypes.CDLL(None).syscall
            syscall.argtypes = [ctypes.c_long] * 5
            program.forbid_new_privileges()
            program.load()
        except BaseException:
            os._exit(3)
        syscall(*call, *[0] * (5 - len(call)))
        os._exit(0)
    return os.waitpid(pid, 0)[1]


def trapped(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def kill(target: int) -> tuple[int, ...]:
    return (KILL, target, 0)


def test_a_self_only_call_traps_when_aimed_at_another_process() -> None:
    assert trapped(status_after(SeccompFilter(ALLOW_ALL, SELF_ONLY_KILL), *kill(os.getpid())))


def test_a_self_only_call_aimed_at_the_child_itself_reaches_the_filter() -> None:
    pid = os.fork()
    if pid == 0:
        program = SeccompFilter(ALLOW_ALL, SELF_ONLY_KILL)
        program.forbid_new_privileges()
        program.load()
        os.kill(os.getpid(), 0)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0


def test_without_guards_the_compiled_filter_is_loaded_as_it_is() -> None:
    # No prefix, so no pid to write: the compiled program must not be patched.
    assert status_after(SeccompFilter(ALLOW_ALL, ()), *kill(os.getpid())) == 0


def test_a_guard_judges_the_low_32_bits_the_kernel_reads() -> None:
    """rt_sigaction(31 | 1 << 32) is SIGSYS to the kernel: the guard must refuse it too."""
    program = SeccompFilter(ALLOW_ALL, NO_SIGSYS_HANDLER)
    sigsys = int(signal.SIGSYS)
    for high in (0, HIGH_BIT, 0xFFFFFFFF << 32):
        assert trapped(status_after(program, RT_SIGACTION, sigsys | high, 0, 0, 8)), hex(high)
    # Another signal passes the guard, high bits or not (sigaction with no new action).
    for high in (0, HIGH_BIT):
        assert status_after(program, RT_SIGACTION, int(signal.SIGUSR1) | high, 0, 0, 8) == 0


def test_a_self_only_guard_ignores_high_bits_the_kernel_drops() -> None:
    # Another process stays another process whatever the high half says.
    program = SeccompFilter(ALLOW_ALL, SELF_ONLY_KILL)
    for high in (HIGH_BIT, 0xFFFFFFFF << 32):
        assert trapped(status_after(program, *kill(os.getpid() | high))), hex(high)


def test_masked_rules_must_compare_32_bits() -> None:
    policy = load_policy()
    for wide in (
        ConditionalRule("clone", 0, mask=0x10000 | HIGH_BIT, value=0x10000),
        ConditionalRule("openat", 2, mask=0x243, value=HIGH_BIT),
    ):
        seccomp = replace(policy.seccomp, conditional=(wide,))
        with pytest.raises(ValueError, match="32 bits"):
            build_filter(replace(policy, seccomp=seccomp))


@pytest.fixture(scope="module")
def policy_filter() -> SeccompFilter:
    return SeccompFilter.compile_apart(load_policy())


def test_the_policy_refuses_a_sigsys_handler_whatever_the_high_bits(
    policy_filter: SeccompFilter,
) -> None:
    sigsys = int(signal.SIGSYS)
    for high in (0, HIGH_BIT, 0x7FFFFFFF << 32):
        assert trapped(status_after(policy_filter, RT_SIGACTION, sigsys | high, 0, 0, 8))
