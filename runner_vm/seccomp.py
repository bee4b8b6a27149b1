"""The seccomp filter of the policy, compiled once per zygote and loaded by every child.

Building the filter with libseccomp costs a child about 3 ms of CPU, a tenth of a whole run, so
it is compiled to BPF once per zygote (in a fork of the host, see `compile_apart`) and each child
only installs the bytes. Two rules depend on the child (kill and tgkill of its own pid only): the
compiled filter allows those calls, and a short prefix, assembled here with room for the child's
pid, traps them for any other pid before the compiled filter decides the rest. The child writes
its pid into the prefix and installs prefix and filter as one program.
"""

from __future__ import annotations

import base64
import ctypes
import os
import struct
from dataclasses import replace
from typing import Any

from runner_vm import framing
from runner_vm.policy import ConditionalRule, Policy

_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_RET_TRAP = 0x00030000
# The audit architecture of this machine's native ABI: the prefix leaves other ABIs to the filter.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Classic BPF: load a word at an absolute offset, jump if equal to k, jump always, return k.
_LD_ABS, _JEQ, _JA, _RET = 0x20, 0x15, 0x05, 0x06
_INSTRUCTION = struct.Struct("=HBBI")
_WORD = struct.Struct("=I")
# Offsets in struct seccomp_data: the call's number, the ABI, and the halves of the first argument.
_NR, _ARCH, _ARG0_LOW, _ARG0_HIGH = 0, 4, 16, 20


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class _Installed:
    """A BPF program and the ctypes objects that load it, all made before the fork: making them in
    each child cost it about a hundred copy-on-write page faults (0.3 ms of CPU)."""

    def __init__(self, program: bytes) -> None:
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.fprog = _Program(len(program) // 8, ctypes.cast(self.buffer, ctypes.c_void_p))

    def patch(self, offset: int, value: int) -> None:
        _WORD.pack_into(self.buffer, offset, value)


class SeccompFilter:
    """Built by the host before it forks the zygote; `load` runs in each child."""

    def __init__(self, compiled: bytes, self_only: tuple[int, ...]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._prctl, self._syscall = libc.prctl, libc.syscall
        machine = os.uname().machine
        self._number = _SYS_SECCOMP[machine]
        # self_only: the calls a child may aim at itself only (kill, tgkill).
        prefix, self._pid_offset = self_only_prefix(self_only, _AUDIT_ARCH[machine])
        self._program = _Installed(prefix + compiled)

    @classmethod
    def compile_apart(cls, policy: Policy) -> SeccompFilter:
        """The policy's filter, compiled by libseccomp in a short-lived fork of this process.

        Importing pyseccomp imports ctypes.util, and with it threading, subprocess, tempfile and
        random: their at-fork handlers would then run in every child forked from this process
        before it could start (about 0.9 ms of CPU and 200 copy-on-write faults per child).
        """
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _compile_into(policy, write_end)
        os.close(write_end)
        try:
            answer = framing.read_frame(read_end)
        except framing.FrameError:
            answer = {"error": "the compiling process died"}
        finally:
            os.close(read_end)
            os.waitpid(pid, 0)
        if "error" in answer:
            raise RuntimeError(f"the seccomp filter could not be built: {answer['error']}")
        return cls(base64.b64decode(answer["bpf"]), tuple(answer["self_only"]))

    def forbid_new_privileges(self) -> None:
        """Once, in the zygote: inherited by every child, and required before `load`."""
        if self._prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")

    def load(self) -> None:
        """In the child, last of all: the filter, with the child's own pid written into it."""
        if self._pid_offset is not None:
            self._program.patch(self._pid_offset, os.getpid())
        arguments = (self._number, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(self._program.fprog))
        if self._syscall(*arguments) != 0:
            raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")


def _compiled(policy: Policy) -> tuple[bytes, tuple[int, ...]]:
    """The policy's BPF, and the numbers of the calls a child may aim at itself only."""
    import pyseccomp

    self_pid = [rule for rule in policy.seccomp.conditional if rule.self_pid]
    numbers = tuple(_number(pyseccomp, rule.syscall) for rule in self_pid)
    return _export(policy), tuple(n for n in numbers if n >= 0)


def _compile_into(policy: Policy, fd: int) -> None:
    """Never returns: the forked compiler sends its answer down `fd` and exits."""
    try:
        program, self_only = _compiled(policy)
        answer: dict[str, Any] = {"bpf": base64.b64encode(program).decode(), "self_only": self_only}
    except BaseException as error:  # reported to the parent, which raises it
        answer = {"error": str(error) or type(error).__name__}
    try:
        framing.write_frame(fd, answer)
    finally:
        os._exit(0)


def self_only_prefix(numbers: tuple[int, ...], audit_arch: int) -> tuple[bytes, int | None]:
    """The start of the child's program, and the byte offset of the pid it compares against
    (none without such calls).

    Calls of the native ABI to these numbers with a first argument other than the pid (all 64
    bits of it: a sign-extended -1 is not the pid) trap; everything else falls through to the
    compiled filter that follows.
    """
    if not numbers:
        return b"", None
    n = len(numbers)
    check_at = n + 4  # after: arch load and test, number load, the n tests, the jump past
    code = [(_LD_ABS, 0, 0, _ARCH), (_JEQ, 0, n + 7, audit_arch), (_LD_ABS, 0, 0, _NR)]
    code += [(_JEQ, check_at - at - 1, 0, nr) for at, nr in enumerate(numbers, start=3)]
    code += [
        (_JA, 0, 0, 5),  # none of them
        (_LD_ABS, 0, 0, _ARG0_LOW),  # check_at
        (_JEQ, 0, 2, 0),  # the pid, written by the child
        (_LD_ABS, 0, 0, _ARG0_HIGH),
        (_JEQ, 1, 0, 0),
        (_RET, 0, 0, _RET_TRAP),
    ]  # the compiled filter starts here
    pid_offset = (check_at + 1) * _INSTRUCTION.size + 4
    return b"".join(_INSTRUCTION.pack(*instruction) for instruction in code), pid_offset


def _export(policy: Policy) -> bytes:
    """The policy's filter as BPF, with the self-only rules widened to plain allows."""
    widened = tuple(
        replace(rule, self_pid=False, mask=0, value=0, not_value=None) if rule.self_pid else rule
        for rule in policy.seccomp.conditional
    )
    seccomp = replace(policy.seccomp, conditional=widened)
    sandbox = build_filter(replace(policy, seccomp=seccomp))
    # Each end is owned (and closed once) by its file object. A filter is at most 4096
    # instructions of 8 bytes, well inside a pipe's buffer, so the export never blocks.
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as source:
        with os.fdopen(write_end, "wb") as sink:
            sandbox.export_bpf(sink)
        return source.read()


def build_filter(policy: Policy) -> Any:
    """The libseccomp filter of the policy: allow, ENOSYS or conditional rules; trap the rest."""
    import pyseccomp

    sandbox = pyseccomp.SyscallFilter(pyseccomp.TRAP)
    try:
        # A call through another ABI (int 0x80, x32) kills the whole process, not just its thread.
        sandbox.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    except OSError:
        pass  # a kernel (or gVisor) that cannot say whether it has KILL_PROCESS: keep the default
    for name in policy.seccomp.allow:
        _add(sandbox, pyseccomp.ALLOW, name)
    for name in policy.seccomp.enosys:
        _add(sandbox, pyseccomp.ERRNO(38), name)
    for rule in policy.seccomp.conditional:
        _add_conditional(sandbox, rule)
    return sandbox


def _add(sandbox: Any, action: Any, name: str, *args: Any) -> None:
    try:
        sandbox.add_rule(action, name, *args)
    except (RuntimeError, ValueError, OSError):
        # A syscall this architecture does not have (e.g. `open` on aarch64) stays forbidden.
        pass


def _add_conditional(sandbox: Any, rule: ConditionalRule) -> None:
    import pyseccomp

    # Self-only rules arrive widened (see _export): the prefix (self_only_prefix) narrows them.
    if rule.not_value is not None:
        compare = pyseccomp.Arg(rule.arg, pyseccomp.NE, rule.not_value)
    else:
        compare = pyseccomp.Arg(rule.arg, pyseccomp.MASKED_EQ, rule.mask, rule.value)
    _add(sandbox, pyseccomp.ALLOW, rule.syscall, compare)


def _number(pyseccomp: Any, name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))
