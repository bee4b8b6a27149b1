"""`fiddle builds add`: install one skia-python release as a build, check it, record it as good.

    1. What to install: a version (`87.9`, or `m87` for the newest release of that milestone
       in infra/skia-releases.toml), or a local wheel file, which must be a skia-python wheel.
    2. pip installs it with the recipe's packages (numpy, Pillow) into a staging directory:
       `pip install --no-deps --only-binary=:all: --no-compile --target <staging> ...`. No
       dependencies (every skia-python wheel asks for pybind11, which nothing needs at run
       time), wheels only (nothing is compiled on the runner). pip's output is shown as it runs.
    3. The staging directory must hold exactly skia-python at that version and the recipe.
    4. The console scripts pip writes (bin/) are dropped: no host runs them. Bytecode is compiled
       once, for the path hosts import it from, with hash-based invalidation and a fixed hash
       seed: the same source gives the same .pyc bytes in every build.
    5. Files identical to an earlier build's at the same place (numpy and Pillow, all of their
       bytecode) become hard links to it: less disk, and one copy in the page cache for every
       build's hosts.
    6. Everything is made read-only, and a real sandbox host of the build runs the smoke render
       (smoke.py).
    7. Only then is it moved into place and appended to goodbuilds.txt, and old builds are
       decimated (decimate.py).

Whatever fails, the staging directory is deleted and nothing else changed: no build is half
installed, and no good build is touched. Each failure is one BuildError sentence: not a
skia-python wheel, an unknown release, the package index out of reach, a failed smoke render.
"""

from __future__ import annotations

import email.parser
import filecmp
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from fiddle_protocol.versions import RELEASE_TIME_RE, RUNID_RE, milestone, runid_of
from runner_vm.builds import decimate, usage
from runner_vm.builds.catalog import (
    RECORD,
    SKIA_PYTHON,
    Build,
    BuildsDir,
    directory_name,
    recipe,
    release_times,
)
from runner_vm.builds.smoke import SmokeFailed, smoke_render
from runner_vm.policy import Policy
from runner_vm.sandbox.base import SandboxUnavailable, build_mount

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.+_-]{0,63}")
MILESTONE_RE = re.compile(r"[mM]([0-9]{1,4})")
Say = Callable[[str], None]
# pip's words when it could not reach the index at all.
_NETWORK_WORDS = (
    "NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
    "Name or service not known", "Network is unreachable", "Connection refused",
    "ConnectTimeoutError", "Read timed out", "ProxyError", "No route to host",
)  # fmt: skip
_PRE_RELEASE = re.compile(r"(a|b|rc|dev)[0-9]*$")
_NO_VERSION = re.compile(
    r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)"
)


class BuildError(RuntimeError):
    """A build could not be added (or removed); the message is one sentence for the operator."""


class NotSkiaPython(BuildError):
    """The wheel given is not a skia-python wheel."""


class UnknownRelease(BuildError):
    """No such skia-python release (on the index, or in the release times)."""


class IndexUnreachable(BuildError):
    """pip could not reach the package index."""


class SmokeRenderFailed(BuildError):
    """The build was installed but failed its smoke render."""


@dataclass(frozen=True)
class Source:
    """What to install: pip's requirement for skia-python (a pin, or a wheel file's path)."""

    requirement: str
    skia_python: str
    released: str
    wheel_sha256: str = ""

    @property
    def runid(self) -> str:
        return runid_of(self.released, self.skia_python)


@dataclass
class Added:
    build: Build
    installed: bool  # False: it was a good build already
    shared_bytes: int = 0
    decimated: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# 1. What to install


def source_of(spec: str, released: str | None = None) -> Source:
    """The build `spec` names: a local wheel file, or a skia-python version (or mNN)."""
    if released is not None and not RELEASE_TIME_RE.fullmatch(released):
        raise BuildError(
            f"--released {released[:40]!r} is not a UTC time like 2026-11-30T12:00:00Z "
            "(runids sort by it)"
        )
    if spec.endswith(".whl") or os.sep in spec or Path(spec).is_file():
        if not Path(spec).is_file():
            raise BuildError(f"{spec[:200]!r} is not a file")
        return _wheel_source(Path(spec), released)
    return _release_source(spec, released)


def _release_source(spec: str, released: str | None) -> Source:
    times = release_times()
    version = _newest_of_milestone(spec, times) if MILESTONE_RE.fullmatch(spec) else spec
    if not VERSION_RE.fullmatch(version):
        raise BuildError(f"{spec[:64]!r} is neither a skia-python version (like 87.9) nor a wheel")
    released = released or times.get(version)
    if released is None:
        raise UnknownRelease(
            f"no release time is known for skia-python {version}: add it to "
            "infra/skia-releases.toml, or give --released TIME"
        )
    return _checked(Source(f"{SKIA_PYTHON}=={version}", version, released))


def _newest_of_milestone(spec: str, times: dict[str, str]) -> str:
    number = int(spec[1:])
    known = [v for v in times if milestone(v) == number]
    if not known:
        raise UnknownRelease(f"infra/skia-releases.toml lists no skia-python release of m{number}")
    return max(known, key=lambda version: times[version])


def _wheel_source(path: Path, released: str | None) -> Source:
    name, version = wheel_name_and_version(path)
    if _canonical(name) != SKIA_PYTHON:
        raise NotSkiaPython(f"{path.name} is a wheel of {name} {version}, not of skia-python")
    if released is None:
        raise BuildError(
            f"{path.name} needs --released TIME (UTC, like 2026-11-30T12:00:00Z): the build's "
            "runid is made from it"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return _checked(Source(str(path.resolve()), version, released, digest))


def wheel_name_and_version(path: Path) -> tuple[str, str]:
    """The distribution a wheel holds, from its METADATA. Raises NotSkiaPython for a file that
    is no wheel."""
    try:
        with zipfile.ZipFile(path) as wheel:
            names = [n for n in wheel.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                raise NotSkiaPython(f"{path.name} is not a wheel: it has no single METADATA")
            headers = email.parser.BytesHeaderParser().parsebytes(wheel.read(names[0]))
            has_skia = any(
                re.fullmatch(r"skia(\..*\.so|/__init__\.py)", n) for n in wheel.namelist()
            )
    except (zipfile.BadZipFile, OSError) as error:
        raise NotSkiaPython(f"{path.name} is not a wheel (a zip archive): {error}") from error
    name, version = str(headers.get("Name", "")), str(headers.get("Version", ""))
    if _canonical(name) == SKIA_PYTHON and not has_skia:
        raise NotSkiaPython(f"{path.name} says it is skia-python but holds no skia module")
    return name or "(no name)", version or "(no version)"


def _checked(source: Source) -> Source:
    if not RUNID_RE.fullmatch(source.runid):
        raise BuildError(
            f"skia-python {source.skia_python[:64]} cannot name a run (runid {source.runid[:100]})"
        )
    return source


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------------------------
# 2. - 7.


@dataclass
class Installer:
    """Adds builds to one builds directory; the smoke render uses `sandbox` with `policy`."""

    builds: BuildsDir
    policy: Policy
    sandbox: str = "auto"
    say: Say = field(default=lambda line: print(line, file=sys.stderr, flush=True))

    def add(self, source: Source) -> Added:
        with self.builds.locked():
            present = self._present(source)
            if present is not None:
                return Added(present, installed=False)
            _clear_staging(self.builds)
            staging = self.builds.staging / f"{directory_name(source.runid)}-{secrets.token_hex(4)}"
            staging.mkdir(parents=True)
            try:
                shared = self._prepare(source, staging)
                return self._record(source, staging, shared)
            finally:
                if staging.exists():
                    usage.delete_tree(staging)

    def _present(self, source: Source) -> Build | None:
        if source.runid not in self.builds.runids():
            leftover = self.builds.directory(source.runid)
            if leftover.exists() and not usage.delete_if_unused(leftover):
                raise BuildError(
                    f"build {source.runid} was removed and a runner still uses it: add it "
                    "again once its runs there have finished"
                )
            return None
        present = self.builds.read(source.runid)
        if present is None:
            raise BuildError(f"build {source.runid} is listed but its directory cannot be read")
        if source.wheel_sha256 and present.wheel_sha256 != source.wheel_sha256:
            raise BuildError(
                f"another build named {source.runid} is installed: remove it first, or give "
                "this one another --released time"
            )
        return present

    def _prepare(self, source: Source, staging: Path) -> int:
        packages = recipe()
        self.say(
            f"installing skia-python {source.skia_python} (Skia m{milestone(source.skia_python)}, "
            f"released {source.released}) with {' '.join(packages)}"
        )
        run_pip(source, packages, staging, self.say)
        installed = verify(staging, source, packages)
        drop_scripts(staging)
        compile_bytecode(staging, build_mount(self.policy))
        shared = share_files(staging, [build.path for build in self.builds.builds()])
        if shared:
            self.say(f"shared {shared / (1 << 20):.1f} MiB of identical files with earlier builds")
        build = Build(source.skia_python, source.released, staging, source.wheel_sha256)
        (staging / RECORD).write_text(_record_json(build, installed))
        make_read_only(staging)
        self._smoke(staging, installed)
        return shared

    def _smoke(self, staging: Path, installed: dict[str, str]) -> None:
        from runner_vm.service.runner import choose_backend

        with tempfile.TemporaryDirectory(prefix="fiddle-smoke-") as state:
            try:
                backend = choose_backend(self.sandbox, self.policy, Path(state))
                backend.prepare()
            except SandboxUnavailable as why:
                raise SmokeRenderFailed(f"no sandbox for the smoke render: {why}") from why
            self.say(f"smoke render in a {backend.name!r} sandbox host of the build")
            try:
                smoke_render(backend, self.policy, staging, installed)
            except SmokeFailed as failed:
                raise SmokeRenderFailed(f"the build failed its smoke render: {failed}") from failed
            finally:
                cleanup = getattr(backend, "cleanup", None)
                if cleanup:
                    cleanup()

    def _record(self, source: Source, staging: Path, shared: int) -> Added:
        final = self.builds.directory(source.runid)
        os.rename(staging, final)
        runids = [*self.builds.runids(), source.runid]
        gone = decimate.to_delete(runids, added=source.runid)
        self.builds.listed([runid for runid in runids if runid not in gone])
        usage.sweep_locked(self.builds)
        build = self.builds.read(source.runid)
        assert build is not None
        return Added(build, installed=True, shared_bytes=shared, decimated=gone)


def _clear_staging(builds: BuildsDir) -> None:
    """What an add that was killed left (this one holds the lock: no other add is running)."""
    if builds.staging.is_dir():
        for leftover in builds.staging.iterdir():
            usage.delete_tree(leftover)


def _record_json(build: Build, installed: dict[str, str]) -> str:
    return json.dumps({**build.record(), "packages": installed}, indent=1) + "\n"


def run_pip(source: Source, packages: tuple[str, ...], target: Path, say: Say) -> None:
    """pip, its output shown line by line as it comes; BuildError with the reason on failure."""
    command = [
        sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
        "--no-compile", "--disable-pip-version-check", "--no-input", "--target", str(target),
        source.requirement, *packages,
    ]  # fmt: skip
    lines: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            lines.append(line.rstrip())
            say(f"  {line.rstrip()}")
    if pip.returncode != 0:
        raise pip_failure(source, lines, pip.returncode)


def pip_failure(source: Source, lines: list[str], status: int) -> BuildError:
    """The one sentence that says why pip failed."""
    text = "\n".join(lines)
    if any(word in text for word in _NETWORK_WORDS):
        return IndexUnreachable(
            "pip could not reach the package index (is the network up? PIP_INDEX_URL and "
            "pip.conf say where it is); nothing was installed"
        )
    missing = _NO_VERSION.search(text)
    if missing and missing.group(1).lower().startswith(SKIA_PYTHON):
        offered = [v.strip() for v in missing.group(2).split(",") if v.strip() not in ("", "none")]
        if not offered:  # pip retried nothing (retries 0) or the index has no skia-python
            return UnknownRelease(
                "the package index offered no skia-python wheel for this Python and machine at "
                "all (is it reachable, and the right one? PIP_INDEX_URL and pip.conf say which)"
            )
        final = [v for v in offered if not _PRE_RELEASE.search(v)] or offered
        return UnknownRelease(
            f"skia-python {source.skia_python} is not on the package index as a wheel for this "
            f"Python and machine; it has {', '.join(final[-12:])}"
        )
    if "is not a supported wheel on this platform" in text:
        return BuildError(
            f"the wheel of skia-python {source.skia_python} is not for this Python and machine"
        )
    last = next((line for line in reversed(lines) if line.strip()), "no output")
    return BuildError(f"pip failed (status {status}): {last.strip()[:300]}")


def verify(staging: Path, source: Source, packages: tuple[str, ...]) -> dict[str, str]:
    """What pip installed, which must be skia-python at its version and the recipe, nothing
    else; {distribution: version}."""
    installed = {
        _canonical(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions(path=[str(staging)])
    }
    wanted = {SKIA_PYTHON: source.skia_python}
    for package in packages:
        name, _, version = package.partition("==")
        wanted[_canonical(name)] = version
    if installed.get(SKIA_PYTHON) != source.skia_python:
        raise NotSkiaPython(
            f"pip installed no skia-python {source.skia_python} (it installed "
            f"{', '.join(f'{k} {v}' for k, v in sorted(installed.items())) or 'nothing'})"
        )
    if installed != wanted or not _has_skia_module(staging):
        raise BuildError(
            f"the build holds {sorted(installed.items())}, not {sorted(wanted.items())}"
        )
    return installed


def _has_skia_module(staging: Path) -> bool:
    return any(staging.glob("skia.*.so")) or (staging / "skia" / "__init__.py").exists()


def drop_scripts(staging: Path) -> None:
    """Remove the console scripts pip wrote (numpy-config, f2py, pyav...): no host runs them, and
    each names the interpreter that installed it, so the same package installed by another
    interpreter (the nox session's, a runner VM's) would differ there and share nothing."""
    shutil.rmtree(staging / "bin", ignore_errors=True)


def compile_bytecode(staging: Path, mount: str) -> None:
    """Bytecode for every module, named as the hosts see it (`mount`) and checked by source hash
    (never by time), so that it is the same in every build that has the same source. Compiled in
    a process of its own with a fixed string hash seed: a set constant (`x in {"a", "b"}`) is
    stored as a frozenset in the order of its strings' hashes, which differ from one process to
    the next otherwise (measured: numpy's distutils/misc_util.pyc)."""
    command = [
        sys.executable, "-m", "compileall", "-q", "-q", "-j", "0", "-d", mount,
        "--invalidation-mode", "unchecked-hash", str(staging),
    ]  # fmt: skip
    # Not checked: a package may ship a module that does not compile (compileall skips it).
    subprocess.run(command, env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)


def share_files(staging: Path, others: list[Path]) -> int:
    """Replace each file identical to another build's at the same place by a hard link to that
    file; the bytes saved."""
    saved = 0
    device = staging.stat().st_dev
    for parent, _, names in os.walk(staging):
        for name in names:
            path = Path(parent) / name
            relative = path.relative_to(staging)
            twin = _twin(path, [other / relative for other in others], device)
            if twin is not None:
                linked = path.with_name(f".{name}.link")
                os.link(twin, linked)
                os.replace(linked, path)
                saved += twin.stat().st_size
    return saved


def _twin(path: Path, candidates: list[Path], device: int) -> Path | None:
    if path.is_symlink():
        return None
    size = path.stat().st_size
    for candidate in candidates:
        try:
            found = candidate.lstat()
        except OSError:
            continue
        same_size = stat.S_ISREG(found.st_mode) and found.st_size == size
        if same_size and found.st_dev == device and filecmp.cmp(candidate, path, shallow=False):
            return candidate
    return None


def make_read_only(root: Path) -> None:
    """Files readable by all and writable by none (shared hard links already are); directories
    the same, and passable."""
    for parent, directories, names in os.walk(root):
        for name in names:
            path = Path(parent) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod((mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) & ~0o222)
        for name in directories:
            (Path(parent) / name).chmod(0o555)
    root.chmod(0o555)


def remove(builds: BuildsDir, runid: str) -> bool:
    """Take a build off goodbuilds.txt and delete it if no runner holds it; whether it is gone
    (else the runner deletes it once its runs at it have finished)."""
    with builds.locked():
        builds.listed([listed for listed in builds.runids() if listed != runid])
        return usage.delete_if_unused(builds.directory(runid))
