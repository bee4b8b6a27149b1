"""Sandbox backends: how a sandbox host process is started, each a stronger or weaker container.

Every backend turns the host's command line into one that starts it inside its container. The
per-run layers (uid drop, rlimits, seccomp) are the same everywhere and live in the host itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from abc import ABC, abstractmethod
from pathlib import Path

import fiddle_protocol
import runner_vm
from runner_vm.drawing.gl import COLD_VARIABLE, DISABLE_VARIABLE, GL_ENVIRONMENT
from runner_vm.policy import Policy

log = logging.getLogger(__name__)

# The packages a host imports, bound read-only into every container under the policy's
# package_dir: the runner, and the contract it shares with the functions.
PACKAGE_SOURCES = tuple(
    Path(package.__file__ or "").resolve().parent for package in (runner_vm, fiddle_protocol)
)


class SandboxUnavailable(RuntimeError):
    """The backend cannot run on this machine; the message says why."""


class SandboxBackend(ABC):
    name = ""
    # Stronger backends come first when choosing a default.
    strength = 0
    # Whether the pool puts each host in cgroup v1 pids and memory limits of its own (a backend
    # that sets its own cgroup limits opts out).
    host_cgroups = True
    # Whether the host itself must cover the policy's hidden paths (sandbox/hiding.py), where the
    # container cannot be told to.
    hides_in_host = False

    def __init__(self, policy: Policy, state_dir: Path) -> None:
        self.policy = policy
        self.state_dir = state_dir

    @abstractmethod
    def check(self) -> None:
        """Raise SandboxUnavailable if this backend cannot run here."""

    @abstractmethod
    def wrap(self, host_argv: list[str]) -> list[str]:
        """The command that runs host_argv (a python command) inside this sandbox."""

    def prepare(self) -> None:  # noqa: B027  -- optional hook, most backends need nothing
        """Build whatever the backend needs on disk before hosts start."""

    def environment(self) -> dict[str, str]:
        # GL_ENVIRONMENT: Mesa reads it when it loads, before any of the host's code could set
        # it (runner_vm/drawing/gl.py says why the GPU needs each).
        return {
            "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp",
            **GL_ENVIRONMENT, **_gpu_switch(),
        }  # fmt: skip


class NoSandbox(SandboxBackend):
    """Development only: the host runs as a plain process; only the per-run layers apply."""

    name = "none"
    strength = 0

    def check(self) -> None:
        return None

    def prepare(self) -> None:
        log.warning(
            "SANDBOX BACKEND 'none': fiddles run without any container. "
            "Never expose this runner to anyone you do not trust."
        )
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        if not readable_by_others(stdlib):
            # Children take a throwaway uid, which a container would give a readable install.
            log.warning(
                "%s is not readable by other users: fiddles can import only the modules the "
                "sandbox host preloads.",
                stdlib,
            )

    def wrap(self, host_argv: list[str]) -> list[str]:
        return host_argv

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(str(p.parent) for p in PACKAGE_SOURCES))
        return env


def _gpu_switch() -> dict[str, str]:
    """The operator's switches (every host without a GPU; a GL context per child, for the
    benchmark), passed into the container."""
    names = (DISABLE_VARIABLE, COLD_VARIABLE)
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def readable_by_others(path: Path) -> bool:
    """Whether a user with no claim to `path` can reach it and read it."""
    for directory in [*reversed(path.parents), path]:
        try:
            mode = directory.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or (directory == path and not mode & stat.S_IROTH):
            return False
    return True


def python_paths() -> dict[str, str]:
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix}


def bind_sources(policy: Policy) -> list[str]:
    """The host paths bound read-only into the sandbox root, without duplicates."""
    paths: list[str] = []
    for template in policy.container.bind_ro:
        path = os.path.realpath(template.format(**python_paths()))
        if path not in paths and os.path.exists(path):
            paths.append(path)
    return paths


def build_root(policy: Policy, root: Path) -> Path:
    """An empty root of mount points, the symlinks of a merged /usr, and a curated /etc."""
    if root.exists():
        shutil.rmtree(root)
    for directory in ("etc", "tmp", "proc", "dev", "sys", "run", "var/tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    mounts = [mount for _, mount in package_binds(policy)]
    for path in [*bind_sources(policy), *mounts]:
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            (root / link).symlink_to(os.readlink(f"/{link}"))
    _fill_etc(policy, root / "etc")
    return root


def package_binds(policy: Policy) -> list[tuple[str, str]]:
    """(source, mount point) of each package a host imports, under the policy's package_dir."""
    return [
        (str(source), f"{policy.container.package_dir}/{source.name}") for source in PACKAGE_SOURCES
    ]


def _fill_etc(policy: Policy, etc: Path) -> None:
    for source in policy.container.etc_files:
        target = etc / Path(source).relative_to("/etc")
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=False, dirs_exist_ok=True)
        elif os.path.exists(source):
            shutil.copy(source, target)
    (etc / "passwd").write_text("root:x:0:0:root:/tmp:/bin/false\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "os-release").write_text('ID=fiddle-sandbox\nNAME="fiddle sandbox"\n')


def _run_quietly(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
