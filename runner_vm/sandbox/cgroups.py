"""cgroup v1 `pids` and `memory` limits around each sandbox host, where the machine has them.

The runner (outside the container) gives every host a cgroup of its own in each controller, under
the runner's own cgroup there (`<runner's cgroup>/fiddle/host-<index>-<runner pid>-<n>`), so the
limits nest inside whatever limits the runner itself lives under. The host's container is started
inside it, so the host, its zygote and every child count against it: `pids.max` stops a fork or
thread flood that got past the per-run limits, `memory.limit_in_bytes` caps the whole host. A
controller that is missing or not writable is skipped, with one log line per runner.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from pathlib import Path

from runner_vm.policy import Limits

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "fiddle"
_REMOVE_ATTEMPTS = 20
_counter = itertools.count()
_reported: set[str] = set()


def _limits(limits: Limits) -> dict[str, tuple[str, int]]:
    return {
        "pids": ("pids.max", limits.cgroup_pids),
        "memory": ("memory.limit_in_bytes", limits.cgroup_memory_mib << 20),
    }


class HostCgroups:
    """One host's cgroups; `enter` runs in the host's process between fork and exec."""

    def __init__(self, limits: Limits, index: int) -> None:
        self.paths: list[Path] = []
        name = f"host-{index}-{os.getpid()}-{next(_counter)}"
        for controller, (limit_file, value) in _limits(limits).items():
            parent = _own_cgroup(controller)
            if parent is None:
                continue
            path = parent / GROUP / name
            try:
                _sweep(parent / GROUP)
                path.mkdir(parents=True, exist_ok=True)
                (path / limit_file).write_text(str(value))
            except OSError as error:
                _report(controller, f"cannot set up {path}: {error}")
                _remove(path)
                continue
            self.paths.append(path)
        self._procs = [os.fsencode(path / "cgroup.procs") for path in self.paths]

    def enter(self) -> None:
        """Move the calling process into every cgroup (0 means the caller itself)."""
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def remove(self) -> None:
        """Remove the cgroups once the host's processes are gone (they may take a moment)."""
        for path in self.paths:
            if not _remove(path, attempts=_REMOVE_ATTEMPTS):
                log.warning("cgroup %s is still in use; leaving it", path)
            _remove(path.parent)  # the shared `fiddle` group, once no runner uses it
        self.paths = []


def _own_cgroup(controller: str) -> Path | None:
    """Where this process sits in the controller's v1 hierarchy, or None where it cannot nest."""
    mount = CGROUP_ROOT / controller
    if not (mount / "cgroup.procs").exists():
        _report(controller, f"no cgroup v1 {controller} controller at {mount}")
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            own = mount / path.lstrip("/")
            if os.access(own, os.W_OK):
                return own
            _report(controller, f"cgroup {own} is not writable")
            return None
    _report(controller, f"this process is in no {controller} cgroup")
    return None


def _sweep(group: Path) -> None:
    """Remove the empty cgroups of runners that are gone (killed before they could clean up)."""
    if not group.is_dir():
        return
    for stale in group.glob("host-*"):
        runner_pid = stale.name.split("-")[2]
        if runner_pid.isdigit() and not Path(f"/proc/{runner_pid}").exists():
            _remove(stale)


def _remove(path: Path, attempts: int = 1) -> bool:
    for attempt in range(attempts):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if attempt + 1 < attempts:
                time.sleep(0.05)
    return False


def _report(controller: str, why: str) -> None:
    if controller not in _reported:
        _reported.add(controller)
        log.info("sandbox hosts run without a %s cgroup: %s", controller, why)


def placement(pid: int) -> dict[str, str]:
    """The cgroup of a process in each v1 controller (for tests and diagnostics)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                if controller:
                    found[controller] = path
    return found
