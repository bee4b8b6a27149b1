"""gVisor's runsc: each sandbox host runs on gVisor's user-space kernel, from an OCI bundle.

Every host gets a bundle of its own (config.json over the shared minimal root of read-only binds)
and a fresh container id. The host process is root of gVisor's kernel (not of the machine) with
only CAP_SETUID, CAP_SETGID and CAP_KILL: enough to give each run its throwaway uid and to kill a
run's process group at the wall clock. No network, the ptrace platform (KVM hangs on these VMs and
the Debian build has no systrap). The per-run layers (uid drop, rlimits, seccomp) still apply:
gVisor implements seccomp(2) for the programs it runs.

A killed `runsc run` (the pool stops hosts with SIGKILL) takes its sandbox and gofer down with it
but leaves its state file, its cgroups and the bundle behind. So each host has a watcher thread:
the command from wrap() is a one-line shell that hands its pid to the watcher through a FIFO and
then execs `runsc run`; the watcher waits for that process to end, however it ends, and runs
`runsc delete --force` and removes the bundle. cleanup() does the same synchronously.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from runner_vm.sandbox.base import (
    SandboxUnavailable,
    _run_quietly,
    bind_sources,
)
from runner_vm.sandbox.containers import RootedBackend
from runner_vm.sandbox.hiding import hidden_paths

log = logging.getLogger(__name__)

RUNSC = "/usr/bin/runsc"
CONTAINER_PREFIX = "runsc-fiddle-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# What the host process may do as root of gVisor's kernel: change to a run's uid and gid, and kill
# the run (which then has another uid). Nothing else: no DAC override, no chown, no raw sockets.
HOST_CAPABILITIES = ["CAP_SETUID", "CAP_SETGID", "CAP_KILL"]
# The whole sandbox (gVisor's kernel, its Go threads, the host and one run) in the cgroup runsc
# makes per container. A run is held to its RLIMIT_AS well before the memory limit; the pids limit
# must leave room for runsc's own threads (one per Go thread of the Sentry, plus ptrace stubs).
SANDBOX_MEMORY_HEADROOM_MIB = 768
SANDBOX_PIDS = 512
NAMESPACES = ("pid", "network", "ipc", "uts", "mount")
CHECK_TIMEOUT = 30.0
DELETE_TIMEOUT = 20.0
# Hands the shell's pid (which `exec` keeps for runsc) to the watcher. Opening the FIFO read-write
# never blocks, even if the watcher has gone.
LAUNCHER = 'exec 3<>"$0"; echo $$ >&3; exec 3>&-; exec "$@"'


class RunscBackend(RootedBackend):
    """gVisor (runsc, ptrace platform): the host runs on a user-space kernel, not the host's."""

    name = "runsc"
    strength = 40
    host_cgroups = False  # runsc puts each sandbox in cgroups of its own (SANDBOX_PIDS, memory)
    binary = "runsc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._exit_hook = False
        self.started: list[str] = []

    @property
    def runsc_state(self) -> Path:
        return self.state_dir / "runsc-state"

    @property
    def bundles(self) -> Path:
        return self.state_dir / "runsc-bundles"

    def runsc_flags(self) -> list[str]:
        return [f"--root={self.runsc_state}", "--platform=ptrace", "--network=none"]

    def prepare(self) -> None:
        self.cleanup()
        # A runner killed outright leaves its bundles (runsc itself deletes a container whose
        # host ended): sweep what an earlier runner on this state directory left.
        for bundle in self.bundles.glob(CONTAINER_PREFIX + "*"):
            self._remove(bundle.name)
        super().prepare()
        self.runsc_state.mkdir(parents=True, exist_ok=True)
        self.bundles.mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable("runsc needs root (rootless gVisor gives up most isolation)")
        if not os.access(RUNSC, os.X_OK):
            raise SandboxUnavailable(f"{RUNSC} is not installed")
        self.prepare()
        try:
            result = _run_quietly(self.wrap(["/usr/bin/true"]), timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            raise SandboxUnavailable(f"runsc did not start in {CHECK_TIMEOUT:g} s") from error
        finally:
            self.cleanup()
        if result.returncode != 0:
            raise SandboxUnavailable(f"runsc failed: {result.stderr.strip()[-300:]}")

    def wrap(self, host_argv: list[str], build_dir: Path | None = None) -> list[str]:
        """A fresh container for host_argv; its watcher removes it once its runsc has ended."""
        container_id = CONTAINER_PREFIX + secrets.token_hex(6)
        bundle = self.bundles / container_id
        bundle.mkdir(parents=True)
        spec = self.spec(host_argv, build_dir)
        (bundle / "config.json").write_text(json.dumps(spec, indent=1))
        fifo = bundle / "launcher.pid"
        os.mkfifo(fifo, 0o600)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._closing.clear()
        if not self._exit_hook:
            # Watchers are daemon threads: a runner that exits right after stopping its pool
            # would kill them before they finish.
            atexit.register(self.cleanup)
            self._exit_hook = True
        watcher = threading.Thread(
            target=self._watch, args=(container_id, reader), name=container_id, daemon=True
        )
        with self._lock:
            self._watchers[container_id] = watcher
            self.started.append(container_id)
        watcher.start()
        run = [RUNSC, *self.runsc_flags(), "run", f"--bundle={bundle}", container_id]
        return ["/bin/sh", "-c", LAUNCHER, str(fifo), *run]

    def spec(self, host_argv: list[str], build_dir: Path | None = None) -> dict[str, Any]:
        """The OCI runtime spec of one host's container."""
        env = {"PATH": "/usr/bin:/bin", **self.environment()}
        return {
            "ociVersion": "1.0.0",
            "process": {
                "terminal": False,
                "user": {"uid": 0, "gid": 0},
                "args": host_argv,
                "env": [f"{key}={value}" for key, value in env.items()],
                "cwd": "/tmp",
                "capabilities": {
                    "bounding": HOST_CAPABILITIES,
                    "effective": HOST_CAPABILITIES,
                    "permitted": HOST_CAPABILITIES,
                },
                "noNewPrivileges": True,
                "rlimits": [
                    {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                ],
            },
            "root": {"path": str(self.root), "readonly": True},
            "hostname": "fiddle",
            "mounts": self._mounts(build_dir),
            "linux": {
                "namespaces": [{"type": kind} for kind in NAMESPACES],
                "resources": {
                    "memory": {"limit": self._memory_limit()},
                    "pids": {"limit": SANDBOX_PIDS},
                },
            },
        }

    def _mounts(self, build_dir: Path | None) -> list[dict[str, Any]]:
        mounts: list[dict[str, Any]] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            # gVisor's own /sys says little, but nothing a run needs: hidden as everywhere (its
            # /proc counts only this sandbox, so it hides nothing there).
            {
                "destination": "/sys",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["ro", "nosuid", "nodev", "noexec", "mode=000", "size=4k"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=64m"],
            },
        ]
        binds = [(path, path) for path in bind_sources(self.policy)]
        binds += self.binds(build_dir)
        for source, destination in binds:
            mounts.append(
                {
                    "destination": destination,
                    "type": "bind",
                    "source": source,
                    "options": ["rbind", "ro", "nosuid", "nodev"],
                }
            )
        return mounts + self._covers()

    def _covers(self) -> list[dict[str, Any]]:
        """Empty, unreadable tmpfs over the hidden paths outside /proc and /sys (which gVisor
        answers itself, above), after the binds they lie in."""
        kernel = (Path("/proc"), Path("/sys"))
        return [
            {
                "destination": str(path),
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["ro", "nosuid", "nodev", "noexec", "mode=000", "size=4k"],
            }
            for path in hidden_paths(self.policy)
            if path.is_dir() and not any(path.is_relative_to(top) for top in kernel)
        ]

    def _memory_limit(self) -> int:
        return (self.policy.limits.cgroup_memory_mib + SANDBOX_MEMORY_HEADROOM_MIB) << 20

    def cleanup(self) -> None:
        """Delete every container this backend started, with its cgroups and its bundle.

        Synchronous and idempotent; the hosts should be stopped first (a live host's container is
        killed). Watchers still waiting for a host that never started give up.
        """
        self._closing.set()
        with self._lock:
            watchers = dict(self._watchers)
        for container_id in watchers:
            self._remove(container_id)
        for watcher in watchers.values():
            watcher.join(timeout=DELETE_TIMEOUT)
        with self._lock:
            for container_id, watcher in watchers.items():
                if not watcher.is_alive():
                    self._watchers.pop(container_id, None)

    def leftovers(self) -> list[str]:
        """What is left on the machine of the containers this backend started."""
        paths = [*self.runsc_state.glob("*"), *self.bundles.glob("*")]
        for container_id in self.started:
            paths += CGROUP_ROOT.glob(f"*/{container_id}")
        return [str(path) for path in paths]

    def _remove(self, container_id: str) -> None:
        remove_container([RUNSC, *self.runsc_flags()], container_id, self.bundles / container_id)

    def _watch(self, container_id: str, reader: int) -> None:
        try:
            pid = self._launcher_pid(reader)
        finally:
            os.close(reader)
        if pid:
            self._await_exit(pid)
            # The sandbox and gofer of a killed runsc die on their parent-death signal.
            time.sleep(0.05)
        self._remove(container_id)
        with self._lock:
            self._watchers.pop(container_id, None)

    def _launcher_pid(self, reader: int) -> int:
        data = b""
        while not self._closing.is_set():
            ready, _, _ = select.select([reader], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(reader, 64)
            if not chunk:
                break
            data += chunk
        try:
            return int(data.split(b"\n")[0])
        except ValueError:
            return 0

    def _await_exit(self, pid: int) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        except OSError:  # a kernel without pidfd (before 5.3): poll for the pid instead
            while _exists(pid):
                time.sleep(0.2)
            return
        try:
            select.select([pidfd], [], [])
        finally:
            os.close(pidfd)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def remove_container(runsc: list[str], container_id: str, bundle: Path) -> None:
    """`runsc delete --force`, then whatever a half-made container can leave behind."""
    try:
        subprocess.run(
            [*runsc, "delete", "--force", container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=DELETE_TIMEOUT,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as error:
        log.warning("runsc could not delete container %s: %s", container_id, error)
    # A container killed before runsc wrote its state has no state for `delete` to find.
    for cgroup in CGROUP_ROOT.glob(f"*/{container_id}"):
        with contextlib.suppress(OSError):
            cgroup.rmdir()
    shutil.rmtree(bundle, ignore_errors=True)
