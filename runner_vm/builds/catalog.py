"""The builds directory of a runner, what is recorded in it, and what names a build.

    <builds dir>/goodbuilds.txt     the runid of every good build, one a line, in the order they
                                    were added (the design's goodbuilds.txt)
    <builds dir>/<runid>/           one build, read-only: skia-python, numpy and Pillow as pip
                                    installs them with --target, and build.json, its record
                                    (the runid's colons are left out of the directory's name)
    <builds dir>/.staging/          builds being added (`fiddle builds add`)
    <builds dir>/.lock              held while builds are added or removed

A build is good once it is listed: `fiddle builds add` lists it only after its smoke render
passed. A directory that is not listed (a removed build some runner still held, a decimated one)
is deleted by whoever next finds no runner holding it (usage.py).

With no build installed (a developer's machine before scripts/setup), the runner renders with
its own skia-python: `environment_build`, the site-packages of the runner's Python as the one
build. Fiddles can then import whatever else is installed there; the runner warns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fiddle_protocol.versions import BuildInfo, milestone, runid_of

log = logging.getLogger(__name__)

# A link to infra/skia-releases.toml, so that a built wheel carries the file.
RELEASES_FILE = Path(__file__).resolve().parents[1] / "data" / "skia-releases.toml"
# An unknown release sorts before every known one, so it never hides a newer, known run.
UNKNOWN_RELEASE_TIME = "1970-01-01T00:00:00Z"
GOOD_BUILDS = "goodbuilds.txt"
RECORD = "build.json"
STAGING = ".staging"
LOCK = ".lock"
SKIA_PYTHON = "skia-python"
# Where the runner keeps its builds unless told (FIDDLE_BUILDS_DIR, --builds-dir): beside the
# service's data. A runner VM is told /var/lib/fiddle/builds (infra/systemd/fiddle-runner.service).
DEFAULT_BUILDS_DIR = Path("data") / "builds"


@dataclass(frozen=True)
class Build:
    """One skia-python release, installed in `path` (the directory a host has first on its
    path). `environment`: the runner's own site-packages, used when no build is installed."""

    skia_python: str
    released: str
    path: Path
    wheel_sha256: str = ""
    environment: bool = False

    @property
    def runid(self) -> str:
        return runid_of(self.released, self.skia_python)

    @property
    def milestone(self) -> int:
        return milestone(self.skia_python)

    def info(self, *, head: bool = False, warm: bool = False, hosts: int = 0) -> BuildInfo:
        return BuildInfo(self.runid, self.skia_python, self.released, head, warm, hosts)

    def record(self) -> dict[str, str]:
        return {
            "runid": self.runid,
            "skia_python": self.skia_python,
            "released": self.released,
            "wheel_sha256": self.wheel_sha256,
        }


def release_times(path: Path = RELEASES_FILE) -> dict[str, str]:
    return {str(k): str(v) for k, v in _releases_file(path).get("releases", {}).items()}


def recipe(path: Path = RELEASES_FILE) -> tuple[str, ...]:
    """The pinned packages every build gets beside skia-python (`numpy==2.4.6`, ...)."""
    return tuple(str(p) for p in _releases_file(path).get("build", {}).get("packages", ()))


def default_versions(path: Path = RELEASES_FILE) -> tuple[str, ...]:
    return tuple(str(v) for v in _releases_file(path).get("build", {}).get("defaults", ()))


def _releases_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def directory_name(runid: str) -> str:
    """A build's directory: its runid without colons, which bind-mount syntaxes take apart."""
    return runid.replace(":", "")


def environment_build() -> Build:
    """The runner's own skia-python, in the site-packages it was installed in."""
    version = metadata.version(SKIA_PYTHON)
    released = release_times().get(version, UNKNOWN_RELEASE_TIME)
    return Build(version, released, Path(sysconfig.get_paths()["purelib"]), environment=True)


class BuildsDir:
    """One runner's builds directory (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def good_builds_file(self) -> Path:
        return self.root / GOOD_BUILDS

    @property
    def staging(self) -> Path:
        return self.root / STAGING

    def directory(self, runid: str) -> Path:
        return self.root / directory_name(runid)

    def runids(self) -> list[str]:
        """The good builds' runids, in the order they were added."""
        try:
            lines = self.good_builds_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    def builds(self) -> list[Build]:
        """Every good build that can be read, in the order they were added."""
        found = []
        for runid in self.runids():
            build = self.read(runid)
            if build is None:
                log.warning("build %s is listed in %s but cannot be read", runid, GOOD_BUILDS)
            else:
                found.append(build)
        return found

    def read(self, runid: str) -> Build | None:
        path = self.directory(runid)
        try:
            record = json.loads((path / RECORD).read_text(encoding="utf-8"))
            build = Build(
                str(record["skia_python"]),
                str(record["released"]),
                path,
                str(record.get("wheel_sha256", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return build if build.runid == runid else None

    def listed(self, runids: list[str]) -> None:
        """Make goodbuilds.txt list exactly these runids, in this order (atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.good_builds_file.with_suffix(".tmp")
        temporary.write_text("".join(f"{runid}\n" for runid in runids), encoding="utf-8")
        os.replace(temporary, self.good_builds_file)

    def version(self) -> tuple[int, int, int]:
        """Changes whenever goodbuilds.txt does (a runner polls it)."""
        try:
            stat = self.good_builds_file.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while builds are added or removed, so that two commands take turns (and no
        runner sweeps a build that is being moved into place)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another `fiddle builds` command on %s", self.root)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def locked_now(self) -> Iterator[bool]:
        """The same lock if it is free at once: whether it was (a runner does not wait)."""
        try:
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
