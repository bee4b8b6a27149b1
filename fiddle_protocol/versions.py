"""Skia builds and how a version is named: the part of the contract both sides resolve alike.

A build is one skia-python release installed on a runner (runner_vm/builds/). Its runid is
`<release time>-<skia-python version>`, e.g. `2025-06-08T01:46:56Z-87.9`, so runids sort by
release time and the greatest is the newest. Its milestone is the major of the skia-python
version (skia-python numbers its releases after Skia's milestones: 87.9 is Skia m87); nothing in
the module itself names the milestone.

A version, as `POST /_/run`, `fiddle run --version` and `fiddle builds remove` take it, is one of:

    HEAD                        the newest build (by release time)
    m87                         the newest build of that milestone
    87.9                        the newest build of that skia-python version
    2025-06-08T01:46:56Z-87.9   that build (its runid)

Anything else, or a name no build answers to, is an UnknownVersion whose sentence lists the
versions there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

HEAD = "HEAD"
# A release time as runids carry it: UTC to the second, so that runids sort by time.
RELEASE_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# What a runid may be (it is a directory of the blob store: fiddle/<hash>/<runid>/).
RUNID_RE = re.compile(r"[0-9][0-9A-Za-z:.+_-]{0,79}")
_MILESTONE_RE = re.compile(r"[mM](\d{1,4})")
_MAJOR_RE = re.compile(r"(\d+)")


class UnknownVersion(ValueError):
    """No build answers to the version; the message names the versions there are."""


def milestone(skia_python: str) -> int:
    """Skia's milestone of a skia-python version: its major (0 for a version without one)."""
    found = _MAJOR_RE.match(skia_python)
    return int(found.group(1)) if found else 0


def runid_of(released: str, skia_python: str) -> str:
    return f"{released}-{skia_python}"


@dataclass(frozen=True)
class BuildInfo:
    """One build a runner serves: what names it, and how warm it is there."""

    runid: str
    skia_python: str
    released: str
    head: bool = False  # the newest build of its runner
    warm: bool = False  # the runner has hosts of it running now
    hosts: int = 0  # how many

    @property
    def milestone(self) -> int:
        return milestone(self.skia_python)

    def to_json(self) -> dict[str, Any]:
        return {
            "runid": self.runid,
            "skia_python": self.skia_python,
            "milestone": self.milestone,
            "released": self.released,
            "head": self.head,
            "warm": self.warm,
            "hosts": self.hosts,
        }

    @classmethod
    def from_json(cls, data: object) -> BuildInfo:
        """Raises ValueError for anything but a build's JSON."""
        if not isinstance(data, dict):
            raise ValueError("a build must be an object")
        texts = [data.get(key) for key in ("runid", "skia_python", "released")]
        flags = [data.get(key, False) for key in ("head", "warm")]
        hosts = data.get("hosts", 0)
        if not all(isinstance(text, str) and text for text in texts):
            raise ValueError("a build's runid, skia_python and released must be strings")
        if not all(isinstance(flag, bool) for flag in flags) or type(hosts) is not int:
            raise ValueError("a build's head and warm must be booleans, its hosts an integer")
        runid, skia_python, released = texts
        return cls(str(runid), str(skia_python), str(released), flags[0], flags[1], hosts)


def newest_first(builds: Iterable[BuildInfo]) -> list[BuildInfo]:
    return sorted(builds, key=lambda build: build.runid, reverse=True)


def head(builds: Sequence[BuildInfo]) -> BuildInfo | None:
    """The newest build: release times order builds, whatever order they were added in."""
    ordered = newest_first(builds)
    return ordered[0] if ordered else None


def resolve(version: str, builds: Sequence[BuildInfo]) -> BuildInfo:
    """The build `version` names (see the module's docstring); UnknownVersion otherwise."""
    ordered = newest_first(builds)
    wanted = version.strip()
    found: BuildInfo | None = None
    if wanted.upper() == HEAD:
        found = ordered[0] if ordered else None
    elif _MILESTONE_RE.fullmatch(wanted):
        number = int(wanted[1:])
        found = next((build for build in ordered if build.milestone == number), None)
    else:
        found = next((build for build in ordered if build.runid == wanted), None) or next(
            (build for build in ordered if build.skia_python == wanted), None
        )
    if found is None:
        raise UnknownVersion(unknown_sentence(version, builds))
    return found


def unknown_sentence(version: str, builds: Sequence[BuildInfo]) -> str:
    shown = version if len(version) <= 64 else version[:64] + "…"
    if not builds:
        return f"Skia version {shown} is not available: no Skia build is installed."
    return f"Skia version {shown} is not available; the versions here are {listing(builds)}."


def listing(builds: Sequence[BuildInfo]) -> str:
    """`HEAD = m144 (144.1), m138 (138.0), 144.0.post2, m87 (87.9)`: every build, newest
    first, by the shortest name that resolves to it."""
    ordered = newest_first(builds)
    versions = [build.skia_python for build in ordered]
    names = []
    for index, build in enumerate(ordered):
        first_of_milestone = all(other.milestone != build.milestone for other in ordered[:index])
        if first_of_milestone:
            name = f"m{build.milestone} ({build.skia_python})"
        elif versions.index(build.skia_python) == index:
            name = build.skia_python
        else:
            name = build.runid
        names.append(f"{HEAD} = {name}" if index == 0 else name)
    return ", ".join(names)
