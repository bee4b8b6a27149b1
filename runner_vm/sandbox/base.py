"""Sandbox backends: how a sandbox host process is started, each a stronger or weaker container.

Every backend turns the host's command line into one that starts it inside its container. The
per-run layers (uid drop, rlimits, seccomp) are the same everywhere and live in the host itself.

A host sees exactly one Skia build. It runs on the base interpreter (not the runner's virtual
environment) with `-S -P`: no site-packages and no working directory on its path, which is then
the standard library and PYTHONPATH alone: its build (bound read-only at `<package_dir>/build`),
the runner's packages (`<package_dir>/runner_vm`, `fiddle_protocol`) and the one module the host
needs from the runner's environment (`<package_dir>/lib/pyseccomp.py`, for the forked filter
compiler and the names of refused calls). Only the build's bind differs between builds: the
command and environment of every host are the same. (`-E` or `-I` would drop PYTHONPATH too.)
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
from runner_vm.drawing.gl import GL_ENVIRONMENT
from runner_vm.policy import Policy

log = logging.getLogger(__name__)

# The packages a host imports, bound read-only into every container under the policy's
# package_dir: the runner, and the contract it shares with the functions.
PACKAGE_SOURCES = tuple(
    Path(package.__file__ or "").resolve().parent for package in (runner_vm, fiddle_protocol)
)
# Modules of the runner's environment a host imports, copied into the state directory's lib/.
LIB_MODULES = ("pyseccomp",)


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
    # Flags every host it starts gets beside its policy (the runner's GPU switches, gl.host_flags).
    host_flags: tuple[str, ...] = ()

    def __init__(self, policy: Policy, state_dir: Path) -> None:
        self.policy = policy
        self.state_dir = state_dir

    @abstractmethod
    def check(self) -> None:
        """Raise SandboxUnavailable if this backend cannot run here."""

    @abstractmethod
    def wrap(self, host_argv: list[str], build_dir: Path | None = None) -> list[str]:
        """The command that runs host_argv (a python command) inside this sandbox, with the
        build in `build_dir` on its path."""

    def prepare(self) -> None:
        """Build whatever the backend needs on disk before hosts start."""
        prepare_lib(self.lib_dir)

    def environment(self, build_dir: Path | None = None) -> dict[str, str]:
        # GL_ENVIRONMENT: Mesa reads it when it loads, before any of the host's code could set
        # it (runner_vm/drawing/gl.py says why the GPU needs each).
        return {
            "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp",
            **GL_ENVIRONMENT,
        }  # fmt: skip

    @property
    def lib_dir(self) -> Path:
        return self.state_dir / "lib"

    def binds(self, build_dir: Path | None) -> list[tuple[str, str]]:
        """(source, mount point) of everything a host imports beside the standard library."""
        found = [*package_binds(self.policy), (str(self.lib_dir), lib_mount(self.policy))]
        if build_dir is not None:
            found.append((str(build_dir), build_mount(self.policy)))
        return found


class NoSandbox(SandboxBackend):
    """Development only: the host runs as a plain process; only the per-run layers apply."""

    name = "none"
    strength = 0

    def check(self) -> None:
        return None

    def prepare(self) -> None:
        super().prepare()
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

    def wrap(self, host_argv: list[str], build_dir: Path | None = None) -> list[str]:
        return host_argv

    def environment(self, build_dir: Path | None = None) -> dict[str, str]:
        env = super().environment(build_dir)
        path = [str(build_dir)] if build_dir else []
        path += [str(p.parent) for p in PACKAGE_SOURCES] + [str(self.lib_dir)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
        return env


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


def host_python() -> str:
    """The base interpreter of the runner's Python (a virtual environment's own `python` would
    bring its site-packages back even with -S: it is the same binary, so the base one is used,
    which the policy binds at the same path)."""
    base = getattr(sys, "_base_executable", "") or sys.executable
    return os.path.realpath(base)


def host_command(
    policy_json: str, index: int, hide: bool, flags: tuple[str, ...] = ()
) -> list[str]:
    """How every host starts, whatever its build and sandbox (see the module's docstring)."""
    argv = [host_python(), "-S", "-P", "-m", "runner_vm.host", policy_json, str(index), *flags]
    return [*argv, "--hide"] if hide else argv


def build_mount(policy: Policy) -> str:
    return f"{policy.container.package_dir}/build"


def lib_mount(policy: Policy) -> str:
    return f"{policy.container.package_dir}/lib"


def container_path(policy: Policy) -> str:
    """PYTHONPATH inside a container: the build first, so its skia is the one imported."""
    return os.pathsep.join((build_mount(policy), policy.container.package_dir, lib_mount(policy)))


def prepare_lib(lib_dir: Path) -> None:
    """Copy the modules of LIB_MODULES from the runner's environment into lib_dir."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    for name in LIB_MODULES:
        try:
            module = __import__(name)
        except ImportError as error:
            raise SandboxUnavailable(f"{name} is not installed beside the runner") from error
        source = Path(module.__file__ or "")
        if source.name != f"{name}.py":
            raise SandboxUnavailable(f"{name} is not a single module here ({source})")
        shutil.copyfile(source, lib_dir / source.name)


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
    mounts += [build_mount(policy), lib_mount(policy)]
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
