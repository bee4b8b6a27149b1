"""Hiding the machine's counters from the sandbox: /sys, and the /proc files that move with what
other sandboxes do.

A run must not watch other runs. The kernel's /sys (its cgroup tree above all: cpuacct.usage is
the CPU time of every container) and these /proc files count the whole machine: CPU time
(/proc/stat, the idle time in /proc/uptime, pressure), memory in use (meminfo, vmstat, zoneinfo),
process and thread counts (loadavg), interrupts, disk I/O, file locks, open files and cgroups.
Each hidden path is covered by an empty node that nobody in the sandbox may read. What stays
visible is what does not move with other runs (the CPU count and model, the kernel's version),
the run's own /proc/self, and its network namespace's /proc/net. The sysinfo call, which gives
the same load, memory and process count, is refused in the seccomp policy (ENOSYS).

Where each backend hides them: bubblewrap with its own mount arguments, gVisor has its own /proc
that counts only its sandbox (and gets an empty /sys), and under systemd-nspawn, which mounts /sys
and /proc after every mount it is asked for, the sandbox host covers them itself before its first
run (`hide_in_container`), as root of the container's user namespace.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from runner_vm.policy import Policy

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND = 32, 4096
_LOCKED_DOWN = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
# Where the host makes the nodes it covers hidden paths with (the container's own /tmp).
CONTAINER_NODES = Path("/tmp/.fiddle-hidden")


class HidingFailed(RuntimeError):
    """A path the policy hides could not be covered: the host must not serve runs."""


def hidden_paths(policy: Policy) -> list[Path]:
    """The policy's hidden paths that exist on this machine (the container's /proc and /sys are
    this kernel's, so what is missing here is missing there)."""
    return [Path(path) for path in policy.container.hidden if os.path.lexists(path)]


def inaccessible_nodes(directory: Path) -> tuple[Path, Path]:
    """An empty file and an empty directory of mode 000, made once in `directory`."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    empty_file, empty_dir = directory / "file", directory / "dir"
    empty_file.touch(exist_ok=True)
    empty_dir.mkdir(exist_ok=True)
    for node in (empty_file, empty_dir):
        node.chmod(0)
    return empty_file, empty_dir


def cover(path: Path, nodes: tuple[Path, Path]) -> Path:
    """The node that covers `path`: the directory for a directory, else the file."""
    return nodes[1] if path.is_dir() else nodes[0]


def hide_in_container(policy: Policy) -> None:
    """In the sandbox host under nspawn, before anything else: cover every hidden path with a
    read-only bind of an inaccessible node. Raises HidingFailed."""
    libc = ctypes.CDLL(None, use_errno=True)
    nodes = inaccessible_nodes(CONTAINER_NODES)
    for path in hidden_paths(policy):
        source = os.fsencode(cover(path, nodes))
        target = os.fsencode(path)
        if libc.mount(source, target, None, _MS_BIND, None) != 0 or libc.mount(
            None, target, None, _MS_BIND | _MS_REMOUNT | _LOCKED_DOWN, None
        ):
            error = ctypes.get_errno()
            raise HidingFailed(f"cannot hide {path}: {os.strerror(error)}")
