"""The seccomp filter of the policy, compiled once per zygote and loaded by every child.

Building the filter with libseccomp costs a child about 3 ms of CPU, a tenth of a whole run, so
it is compiled to BPF once per zygote (in a fork of the host, see `compile_apart`) and each child
only installs the bytes.

Every argument the rules look at is a C int to the kernel (flags, a signal, a pid): the kernel
reads the low 32 bits of the register and ignores the rest (on x86-64 and aarch64 alike, and in
gVisor). A rule must judge exactly those 32 bits, or a program sets a high bit the kernel drops
(`31 | 1 << 32` is SIGSYS to the kernel, but not 31 to a 64-bit comparison). libseccomp compares
all 64 bits, except with a masked comparison whose mask has no high bits; so:

- "(arg & mask) == value" rules go to libseccomp with 32-bit masks and values (checked here),
  and the high half of the argument is not looked at, as by the kernel;
- "never this value" and "only the child's own pid" rules (`guards`) cannot be said that way
  (libseccomp has no masked not-equal). The compiled filter allows those calls, and a short
  prefix, assembled here, compares the low 32 bits of the argument and traps first. The child
  writes its pid into the prefix and installs prefix and filter as one program.
"""

from __future__ import annotations

import base64
import ctypes
import os
import struct
from dataclasses import dataclass, replace
from typing import Any

from runner_vm.host import framing
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
# Offsets in struct seccomp_data: the call's number, the ABI, and the low half of the first
# argument (each argument takes 8 bytes; the low half comes first on these little-endian ABIs).
_NR, _ARCH, _ARG0_LOW, _ARG_SIZE = 0, 4, 16, 8
_LOW_32_BITS = 0xFFFFFFFF
# Instructions of one guard in the prefix (see `guard_prefix`).
_GUARD_LENGTH = 5


@dataclass(frozen=True)
class Guard:
    """A rule the prefix checks on the low 32 bits of one argument: with `value`, the call traps
    when the argument is that value; with `value` None, it traps unless it is the child's pid."""

    number: int
    arg: int
    value: int | None

    def to_json(self) -> list[int | None]:
        return [self.number, self.arg, self.value]

    @classmethod
    def from_json(cls, data: list[Any]) -> Guard:
        number, arg, value = data
        return cls(int(number), int(arg), None if value is None else int(value))


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

    def __init__(self, compiled: bytes, guards: tuple[Guard, ...]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._prctl, self._syscall = libc.prctl, libc.syscall
        machine = os.uname().machine
        self._number = _SYS_SECCOMP[machine]
        prefix, self._pid_offsets = guard_prefix(guards, _AUDIT_ARCH[machine])
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
        guards = tuple(Guard.from_json(guard) for guard in answer["guards"])
        return cls(base64.b64decode(answer["bpf"]), guards)

    def forbid_new_privileges(self) -> None:
        """Once, in the zygote: inherited by every child, and required before `load`."""
        if self._prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")

    def load(self) -> None:
        """In the child, last of all: the filter, with the child's own pid written into it."""
        for offset in self._pid_offsets:
            self._program.patch(offset, os.getpid())
        arguments = (self._number, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(self._program.fprog))
        if self._syscall(*arguments) != 0:
            raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")


def _compiled(policy: Policy) -> tuple[bytes, tuple[Guard, ...]]:
    """The policy's BPF, and the guards the prefix checks before it."""
    import pyseccomp

    guards = []
    for rule in policy.seccomp.conditional:
        number = _number(pyseccomp, rule.syscall)
        if is_guard(rule) and number >= 0:  # a call this architecture lacks stays forbidden
            guards.append(Guard(number, rule.arg, None if rule.self_pid else rule.not_value))
    return _export(policy), tuple(guards)


def is_guard(rule: ConditionalRule) -> bool:
    return rule.self_pid or rule.not_value is not None


def _compile_into(policy: Policy, fd: int) -> None:
    """Never returns: the forked compiler sends its answer down `fd` and exits."""
    try:
        program, guards = _compiled(policy)
        answer: dict[str, Any] = {
            "bpf": base64.b64encode(program).decode(),
            "guards": [guard.to_json() for guard in guards],
        }
    except BaseException as error:  # reported to the parent, which raises it
        answer = {"error": str(error) or type(error).__name__}
    try:
        framing.write_frame(fd, answer)
    finally:
        os._exit(0)


def guard_prefix(guards: tuple[Guard, ...], audit_arch: int) -> tuple[bytes, list[int]]:
    """The start of the child's program, and the byte offsets of the pids it compares against.

    Calls of the native ABI that a guard refuses trap; everything else falls through to the
    compiled filter that follows. Each guard is one block: load the call's number; if it is not
    the guard's, go on to the next block; load the low 32 bits of the argument; compare; trap.
    """
    if not guards:
        return b"", []
    skip_all = (_JA, 0, 0, _GUARD_LENGTH * len(guards))
    code = [(_LD_ABS, 0, 0, _ARCH), (_JEQ, 1, 0, audit_arch), skip_all]
    pid_offsets = []
    for guard in guards:
        if guard.value is None:  # the child's pid, written in later: equal goes on, past the trap
            compare = (_JEQ, 1, 0, 0)
            pid_offsets.append((len(code) + 3) * _INSTRUCTION.size + 4)
        else:  # the forbidden value: equal traps
            compare = (_JEQ, 0, 1, guard.value & _LOW_32_BITS)
        code += [
            (_LD_ABS, 0, 0, _NR),
            (_JEQ, 0, _GUARD_LENGTH - 2, guard.number),  # another call: the next guard
            (_LD_ABS, 0, 0, _ARG0_LOW + _ARG_SIZE * guard.arg),
            compare,
            (_RET, 0, 0, _RET_TRAP),
        ]
    return b"".join(_INSTRUCTION.pack(*instruction) for instruction in code), pid_offsets


def _export(policy: Policy) -> bytes:
    """The policy's filter as BPF, with the guarded calls widened to plain allows."""
    widened = tuple(
        ConditionalRule(rule.syscall, 0, 0, value=0) if is_guard(rule) else rule
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
    """(arg & mask) == value on the low 32 bits only: with no high bits in the mask, libseccomp
    leaves the high half alone, as the kernel does. Guards arrive widened to plain allows (see
    _export): the prefix narrows them."""
    import pyseccomp

    if is_guard(rule) or rule.value is None:
        raise ValueError(f"the rule for {rule.syscall} is not a masked comparison")
    if rule.mask > _LOW_32_BITS or rule.value > _LOW_32_BITS or rule.value & ~rule.mask:
        raise ValueError(f"the rule for {rule.syscall} must compare 32 bits, as the kernel reads")
    if rule.mask == 0:
        _add(sandbox, pyseccomp.ALLOW, rule.syscall)
        return
    compare = pyseccomp.Arg(rule.arg, pyseccomp.MASKED_EQ, rule.mask, rule.value)
    _add(sandbox, pyseccomp.ALLOW, rule.syscall, compare)


def _number(pyseccomp: Any, name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))
