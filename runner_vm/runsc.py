"""gVisor's runsc: each sandbox host runs on gVisor's user-space kernel, from an OCI bundle.

Every host gets a bundle of its own (config.json over the shared minimal root of read-only binds)
and a fresh container id. The host process is root of gVisor's kernel (not of the machine) with
only CAP_SETUID, CAP_SETGID and CAP_KILL: enough to give each run its throwaway uid and to kill a
run's process group at the wall clock. No network, the ptrace platform (KVM hangs on these VMs and
the Debian build has no systrap). The per-run layers (uid drop, rlimits, seccomp) still apply:
gVisor implements seccomp(2) for the programs it runs.

A killed `runsc run` (the pool stops hosts with SIGKILL) takes its sandbox and gofer down with it,
but leaves its state file, its cgroups and the bundle behind. So wrap() does not start runsc
directly: it starts a small launcher that forks a detached reaper and then execs `runsc run`. The
reaper waits for that process to end however it ends, then runs `runsc delete --force` and removes
the bundle. cleanup() does the same synchronously for every host this backend started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runner_vm.containers import RootedBackend
from runner_vm.sandbox import (
    PACKAGE_SOURCE,
    SandboxUnavailable,
    _package_mount,
    _run_quietly,
    bind_sources,
)

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
CHECK_TIMEOUT = 30.0
DELETE_TIMEOUT = 20.0


class RunscBackend(RootedBackend):
    """gVisor (runsc, ptrace platform): the host runs on a user-space kernel, not the host's."""

    name = "runsc"
    strength = 40
    binary = "runsc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._containers: list[str] = []

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
        super().prepare()
        self.runsc_state.mkdir(parents=True, exist_ok=True)
        self.bundles.mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable("runsc needs root (rootless gVisor drops most of its isolation)")
        if not os.access(RUNSC, os.X_OK):
            raise SandboxUnavailable(f"{RUNSC} is not installed")
        self.prepare()
        try:
            result = _run_quietly(self.wrap(["/usr/bin/true"]), timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            raise SandboxUnavailable(f"runsc did not run a container in {CHECK_TIMEOUT:g} s") from error
        finally:
            self.cleanup()
        if result.returncode != 0:
            raise SandboxUnavailable(f"runsc failed: {result.stderr.strip()[-300:]}")

    def wrap(self, host_argv: list[str]) -> list[str]:
        container_id = CONTAINER_PREFIX + secrets.token_hex(6)
        bundle = self.bundles / container_id
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(self.spec(host_argv), indent=1))
        self._containers.append(container_id)
        plan = {
            "runsc": [RUNSC, *self.runsc_flags()],
            "id": container_id,
            "bundle": str(bundle),
        }
        # -I -S: the launcher needs nothing but this package, whatever PYTHONPATH says.
        launcher = (
            f"import sys; sys.path.insert(0, {str(PACKAGE_SOURCE.parent)!r}); "
            "from runner_vm.runsc import launch; launch(sys.argv[1])"
        )
        return [sys.executable, "-I", "-S", "-c", launcher, json.dumps(plan)]

    def spec(self, host_argv: list[str]) -> dict[str, Any]:
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
            "mounts": self._mounts(),
            "linux": {
                "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")],
                "resources": {
                    "memory": {"limit": self._memory_limit()},
                    "pids": {"limit": SANDBOX_PIDS},
                },
            },
        }

    def _mounts(self) -> list[dict[str, Any]]:
        mounts: list[dict[str, Any]] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=64m"],
            },
        ]
        binds = [(path, path) for path in bind_sources(self.policy)]
        binds.append((str(PACKAGE_SOURCE), _package_mount(self.policy)))
        for source, destination in binds:
            mounts.append(
                {
                    "destination": destination,
                    "type": "bind",
                    "source": source,
                    "options": ["rbind", "ro", "nosuid", "nodev"],
                }
            )
        return mounts

    def _memory_limit(self) -> int:
        return (self.policy.limits.cgroup_memory_mib + SANDBOX_MEMORY_HEADROOM_MIB) << 20

    def cleanup(self) -> None:
        """Delete every container this backend started, with its cgroups and its bundle.

        Idempotent and safe to run next to the reapers; stop the hosts first (a live host's
        container is killed).
        """
        for container_id in self._containers:
            remove_container(
                [RUNSC, *self.runsc_flags()], container_id, self.bundles / container_id
            )
        self._containers.clear()

    def leftovers(self) -> list[str]:
        """What is left on the machine of this backend's containers (for tests and /healthz)."""
        found = [str(path) for path in self.runsc_state.glob("*")] if self.runsc_state.exists() else []
        found += [str(path) for path in self.bundles.glob("*")] if self.bundles.exists() else []
        found += [str(path) for path in CGROUP_ROOT.glob(f"*/{CONTAINER_PREFIX}*")]
        return found


def remove_container(runsc: list[str], container_id: str, bundle: Path) -> None:
    """`runsc delete --force`, then whatever a half-made container can leave behind."""
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            [*runsc, "delete", "--force", container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=DELETE_TIMEOUT,
            check=False,
        )
    # A container killed before runsc wrote its state has no state for `delete` to find.
    for cgroup in CGROUP_ROOT.glob(f"*/{container_id}"):
        with contextlib.suppress(OSError):
            cgroup.rmdir()
    shutil.rmtree(bundle, ignore_errors=True)


def launch(plan_json: str) -> None:
    """Runs on the machine, not in the sandbox: fork the reaper, then become `runsc run`.

    The runner talks to the host over this process's stdin and stdout, which `runsc run` passes
    to the container; the reaper holds neither.
    """
    plan = json.loads(plan_json)
    runsc: list[str] = plan["runsc"]
    launcher = os.getpid()
    ready_read, ready_write = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(ready_read)
        if os.fork() == 0:
            _reaper(launcher, ready_write, runsc, plan["id"], Path(plan["bundle"]))
        os._exit(0)
    os.close(ready_write)
    os.waitpid(middle, 0)
    # Exec only once the reaper watches this process, so it cannot miss the end of it.
    os.read(ready_read, 1)
    os.close(ready_read)
    os.execv(runsc[0], [*runsc, "run", "--bundle", plan["bundle"], plan["id"]])


def _reaper(watched: int, ready: int, runsc: list[str], container_id: str, bundle: Path) -> None:
    """Never returns. Wait for `runsc run` (pid watched) to end, then remove its container."""
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, ready)
        os.closerange(ready + 1, 1 << 16)
        try:
            pidfd = os.pidfd_open(watched)
        except ProcessLookupError:
            pidfd = -1
        os.write(ready, b"r")
        os.close(ready)
        if pidfd >= 0:
            select.select([pidfd], [], [])
        # The killed runsc's sandbox and gofer die on their parent-death signal: let them go.
        time.sleep(0.05)
        remove_container(runsc, container_id, bundle)
    finally:
        os._exit(0)
