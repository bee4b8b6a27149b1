"""The zygote: the clean process every child is forked from.

A child forked from the host itself would inherit what earlier runs left in the host's memory
(live objects and freed buffers alike, readable with ctypes). The zygote is a copy of the host
made right after warm-up that never sees a request or a result; it forks one child at a time, on
the host's word, and reports how each one ended.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import struct

from runner_vm.child import confine
from runner_vm.child.main import child_main
from runner_vm.child.seccomp import SeccompFilter
from runner_vm.policy import Policy

# What the zygote tells the host: a pid and an errno after a fork, a pid, its wait status and its
# CPU seconds once that child has ended.
_ZYGOTE_REPLY = struct.Struct("=iid")
_PR_SET_PDEATHSIG = 1


class ZygoteDied(RuntimeError):
    """The zygote is gone: the host cannot start children any more and must be replaced."""


class Zygote:
    """Forks a child with the two pipe ends the host hands it, answers with the child's pid, and
    reports the child's wait status and CPU time once it has ended. The host still talks to the
    child only through those pipes, and kills it when a limit is hit.
    """

    def __init__(self, policy: Policy) -> None:
        # Compiled apart so that this process, and so the zygote, never imports pyseccomp.
        seccomp = SeccompFilter.compile_apart(policy) if policy.use_seccomp else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            _zygote_main(theirs, policy, host_pid, seccomp)
        theirs.close()
        self.socket = ours

    def fork(self, uid: int, request_fd: int, result_fd: int) -> int:
        socket.send_fds(self.socket, [b"%d" % uid], [request_fd, result_fd])
        pid, error, _ = self._receive()
        if pid <= 0:
            raise OSError(error, os.strerror(error))
        return pid

    def ended(self, timeout: float) -> tuple[int, float] | None:
        """The wait status and CPU seconds of the current child, or None while it still runs."""
        ready, _, _ = select.select([self.socket], [], [], max(timeout, 0.0))
        return self.wait() if ready else None

    def wait(self) -> tuple[int, float]:
        """The wait status and CPU seconds of the current child, once it has ended."""
        _, status, cpu = self._receive()
        return status, cpu

    def _receive(self) -> tuple[int, int, float]:
        try:
            reply = self.socket.recv(_ZYGOTE_REPLY.size)
        except OSError as error:
            raise ZygoteDied(str(error)) from error
        if len(reply) != _ZYGOTE_REPLY.size:
            raise ZygoteDied("the zygote has gone")
        pid, status, cpu = _ZYGOTE_REPLY.unpack(reply)
        return pid, status, cpu


def _zygote_main(
    channel: socket.socket, policy: Policy, host_pid: int, seccomp: SeccompFilter | None
) -> None:
    """Never returns: forks a child per request of the host and reports how each one ended."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != host_pid:
            return
        confine.close_other_descriptors((channel.fileno(),))
        reporter = confine.SigsysReporter()
        confine.prepare_zygote(policy, reporter, seccomp)
        while True:
            message, fds, _, _ = socket.recv_fds(channel, 32, 2)
            if not message or len(fds) != 2:
                return
            request_fd, result_fd = fds
            try:
                pid, error = os.fork(), 0
            except OSError as failure:
                pid, error = -1, failure.errno or 0
            if pid == 0:
                child_main(request_fd, result_fd, int(message), policy, (reporter, seccomp))
            os.close(request_fd)
            os.close(result_fd)
            channel.send(_ZYGOTE_REPLY.pack(pid, error, 0.0))
            if pid > 0:
                _, status, usage = os.wait4(pid, 0)
                channel.send(_ZYGOTE_REPLY.pack(pid, status, usage.ru_utime + usage.ru_stime))
    finally:
        os._exit(0)
