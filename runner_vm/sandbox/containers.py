"""The container backends: systemd-nspawn, bubblewrap / unshare namespaces, and gVisor's runsc."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from runner_vm.sandbox.base import (
    SandboxBackend,
    SandboxUnavailable,
    _run_quietly,
    bind_sources,
    build_root,
    container_path,
)
from runner_vm.sandbox.hiding import cover, hidden_paths, inaccessible_nodes

# The sandbox's own hostname, so that uname() does not give the machine's away.
HOSTNAME = "fiddle"
# What a host needs: to give each child its own uid and gid, and to kill it at its limits.
HOST_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL")


class RootedBackend(SandboxBackend):
    """A backend whose hosts see only a prepared root of read-only binds."""

    binary = ""

    @property
    def root(self) -> Path:
        return self.state_dir / f"root-{self.name}"

    def prepare(self) -> None:
        super().prepare()
        build_root(self.policy, self.root)

    def check(self) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable(f"{self.name} needs root")
        if shutil.which(self.binary) is None:
            raise SandboxUnavailable(f"{self.binary} is not installed")
        self.prepare()
        result = _run_quietly(self.wrap(["/usr/bin/true"]))
        if result.returncode != 0:
            raise SandboxUnavailable(f"{self.binary} failed: {result.stderr.strip()[-300:]}")

    def environment(self, build_dir: Path | None = None) -> dict[str, str]:
        env = super().environment(build_dir)
        env["PYTHONPATH"] = container_path(self.policy)
        return env

    def _setenv_flags(self, flag: str) -> list[str]:
        return [
            item for key, value in self.environment().items() for item in (flag, f"{key}={value}")
        ]


class NspawnBackend(RootedBackend):
    """systemd-nspawn: own user (--private-users), pid, mount and network namespaces."""

    name = "nspawn"
    strength = 30
    binary = "systemd-nspawn"
    # nspawn mounts /sys and /proc after any mount it is given: the host covers what is hidden.
    hides_in_host = True

    def wrap(self, host_argv: list[str], build_dir: Path | None = None) -> list[str]:
        binds = [f"--bind-ro={_escaped(path)}" for path in bind_sources(self.policy)]
        binds += [
            f"--bind-ro={_escaped(source)}:{_escaped(mount)}"
            for source, mount in self.binds(build_dir)
        ]
        return [
            "systemd-nspawn", "--quiet", "--register=no", "--keep-unit",
            f"--directory={self.root}", "--read-only", "--private-users=pick",
            "--private-network", "--as-pid2", "--console=pipe", "--timezone=off",
            f"--hostname={HOSTNAME}",
            "--resolv-conf=off", "--link-journal=no", "--tmpfs=/tmp", "--chdir=/tmp",
            *binds, *self._setenv_flags("--setenv"), "--", *host_argv,
        ]  # fmt: skip


class BubblewrapBackend(RootedBackend):
    """bubblewrap: new pid, mount, network, ipc and uts namespaces over the same minimal root."""

    name = "namespaces"
    strength = 20
    binary = "bwrap"

    @property
    def nodes(self) -> tuple[Path, Path]:
        return inaccessible_nodes(self.state_dir / "hidden")

    def wrap(self, host_argv: list[str], build_dir: Path | None = None) -> list[str]:
        binds: list[str] = []
        for path in bind_sources(self.policy):
            binds += ["--ro-bind", path, path]
        for source, mount in self.binds(build_dir):
            binds += ["--ro-bind", source, mount]
        env = [item for k, v in self.environment().items() for item in ("--setenv", k, v)]
        # Run as real root, bwrap would keep every capability: the host needs only these.
        capabilities = ["--cap-drop", "ALL"]
        for capability in HOST_CAPABILITIES:
            capabilities += ["--cap-add", capability]
        return [
            "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", HOSTNAME, *capabilities,
            # /tmp first: a bind below it (a venv under /tmp) must stay visible over the tmpfs.
            "--ro-bind", str(self.root), "/", "--tmpfs", "/tmp",
            *_traversable_parents(bind_sources(self.policy), "/tmp"), *binds,
            "--proc", "/proc", "--dev", "/dev", *self._hiding(), "--chdir", "/tmp",
            "--clearenv", *env, "--", *host_argv,
        ]  # fmt: skip

    def _hiding(self) -> list[str]:
        """Read-only binds of inaccessible nodes over the hidden paths, after /proc is mounted."""
        nodes = self.nodes
        hidden = [(str(cover(path, nodes)), str(path)) for path in hidden_paths(self.policy)]
        return [item for source, path in hidden for item in ("--ro-bind", source, path)]


def _escaped(path: str) -> str:
    """A path as nspawn's --bind-ro takes it: a colon separates source and mount point."""
    return path.replace("\\", "\\\\").replace(":", "\\:")


def _traversable_parents(destinations: list[str], tmpfs: str) -> list[str]:
    """bwrap makes the missing parents of a bind target mode 0700, which the run's throwaway uid
    cannot pass through; so each parent inside the tmpfs is made first, mode 0755."""
    parents: list[str] = []
    for destination in destinations:
        for parent in reversed(Path(destination).parents):
            if parent.is_relative_to(tmpfs) and str(parent) != tmpfs and str(parent) not in parents:
                parents.append(str(parent))
    return [item for parent in parents for item in ("--perms", "0755", "--dir", parent)]
