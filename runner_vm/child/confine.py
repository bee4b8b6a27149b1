"""Confining a freshly forked child before it touches user code.

What a child would inherit anyway is done once, in the zygote it is forked from
(`prepare_zygote`): stdio on /dev/null, the rlimits that do not count per process or per uid, no
supplementary groups, no new privileges, the SIGSYS reporter, the audit hook that refuses
Python's process-starting helpers by name (`refusals`). Doing it in every child cost each
run about 0.6 ms of CPU and a hundred copy-on-write faults.

The rest is each child's own (`confine`), and order matters: the child leaves the zygote's process
group, drops every descriptor but its two pipes, sets its CPU and process limits, takes a throwaway
uid, and last loads the seccomp filter (after which it could no longer do any of the rest).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from typing import Any

from runner_vm.child.refusals import refuse_process_starts
from runner_vm.child.seccomp import SeccompFilter
from runner_vm.policy import Limits, Policy

MIB = 1 << 20
SIGSYS_EXIT_CODE = 159
_SA_SIGINFO = 4


class _SigInfo(ctypes.Structure):
    # The x86-64 and aarch64 siginfo_t layout for SIGSYS: signo, errno, code, padding, then the
    # address of the call and the syscall number.
    _fields_ = (
        ("si_signo", ctypes.c_int),
        ("si_errno", ctypes.c_int),
        ("si_code", ctypes.c_int),
        ("_pad", ctypes.c_int),
        ("call_addr", ctypes.c_void_p),
        ("syscall", ctypes.c_int),
        ("arch", ctypes.c_uint),
    )


_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(_SigInfo), ctypes.c_void_p)


class _SigAction(ctypes.Structure):
    _fields_ = (
        ("sa_sigaction", _HANDLER_TYPE),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    )


class SigsysReporter:
    """Names the forbidden syscall to the host before the child dies.

    The filter traps instead of killing outright, so the child's SIGSYS handler can write the
    syscall number down its pipe. The trapped call itself is never executed either way.
    Built in the host before forking: creating the ctypes callback allocates memory.
    """

    def __init__(self) -> None:
        self.report_fd = -1
        self._callback = _HANDLER_TYPE(self._on_sigsys)
        self._action = _SigAction()
        self._action.sa_sigaction = self._callback
        self._action.sa_flags = _SA_SIGINFO
        # Resolved here, not in the child, where it would cost copy-on-write faults.
        self._sigaction = ctypes.CDLL(None, use_errno=True).sigaction

    def _on_sigsys(self, _signo: int, info: Any, _context: Any) -> None:
        number = info.contents.syscall
        os.write(self.report_fd, b"\x00SIGSYS %d\n" % number)
        os._exit(SIGSYS_EXIT_CODE)

    def install(self) -> None:
        """In the zygote: the handler is inherited by every child, which sets `report_fd`."""
        if self._sigaction(signal.SIGSYS, ctypes.byref(self._action), None) != 0:
            raise OSError(ctypes.get_errno(), "sigaction(SIGSYS) failed")


def leave_process_group() -> None:
    os.setsid()


def redirect_stdio() -> None:
    """Stray writes to fd 1 or 2 must never reach the host's protocol stream."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def close_other_descriptors(keep: tuple[int, ...]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


# What a fresh `python` keeps of its own at start (SIGPIPE and SIGXFSZ ignored, SIGINT raising
# KeyboardInterrupt), what only the kernel decides, and SIGSYS, whose handler the zygote installs.
_SIGNALS_KEPT = frozenset(
    {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGKILL, signal.SIGSTOP, signal.SIGSYS}
)


def reset_inherited_signals() -> None:
    """Every other signal to its default action, and none blocked: a program's signals do what
    they do in a fresh `python`, whatever the runner was started with (under `nohup` SIGHUP is
    ignored, and every process started from there inherits that) or its host set up."""
    for signum in signal.valid_signals() - _SIGNALS_KEPT:
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # the C library's own real-time signals cannot be set
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def set_inherited_rlimits(limits: Limits) -> None:
    """The limits that hold for the zygote as much as for its children."""
    # A file write beyond RLIMIT_FSIZE should fail with EFBIG, not kill with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    address_space = limits.address_space_mib * MIB
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))


def set_own_rlimits(limits: Limits) -> None:
    """The limits that count what this process (CPU) or its uid (processes) has used: in the
    zygote they would count the zygote's own CPU time and its user's processes."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def drop_groups() -> None:
    if os.geteuid() == 0:
        os.setgroups([])


def take_identity(uid: int) -> bool:
    """Switch to the run's throwaway uid and gid; only possible when the host is root."""
    if os.geteuid() != 0:
        return False
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    return True


def prepare_zygote(policy: Policy, reporter: SigsysReporter, seccomp: SeccompFilter | None) -> None:
    """Once, in the zygote, before its first fork: what every child inherits."""
    redirect_stdio()
    reset_inherited_signals()
    set_inherited_rlimits(policy.limits)
    drop_groups()
    if seccomp is not None:
        reporter.install()
        # Set once for every child; the zygote itself never starts a process.
        sys.addaudithook(refuse_process_starts)
        seccomp.forbid_new_privileges()


def confine(
    policy: Policy,
    fds: tuple[int, int],
    uid: int,
    reporter: SigsysReporter,
    seccomp: SeccompFilter | None,
) -> None:
    """In each child, forked from a zygote that ran `prepare_zygote`. fds: the pipe the request
    arrives on and the pipe results (and SIGSYS reports) leave by; seccomp: the policy's filter,
    compiled before the zygote was forked (None when the policy has none)."""
    leave_process_group()
    close_other_descriptors(fds)
    set_own_rlimits(policy.limits)
    take_identity(uid)
    if seccomp is not None:
        reporter.report_fd = fds[1]
        seccomp.load()
