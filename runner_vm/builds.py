"""Which Skia build this runner renders with, and the runid that names its outputs."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# A link to infra/skia-releases.toml, so that a built wheel carries the file.
RELEASES_FILE = Path(__file__).resolve().parent / "data" / "skia-releases.toml"
# An unknown release sorts before every known one, so it never hides a newer, known run.
UNKNOWN_RELEASE_TIME = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Build:
    skia_python: str
    released: str

    @property
    def runid(self) -> str:
        return f"{self.released}-{self.skia_python}"


def release_times(path: Path = RELEASES_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return {str(k): str(v) for k, v in tomllib.load(handle).get("releases", {}).items()}


def current_build() -> Build:
    version = metadata.version("skia-python")
    return Build(skia_python=version, released=release_times().get(version, UNKNOWN_RELEASE_TIME))
