"""The six built-in source images (ids 1 to 6), which every store has before any upload.

Skia Fiddle ships six source images and its editor starts with the first, so its clients expect
ids 1 to 6 to exist. Ours are drawn by this project's own code (scripts/draw_builtin_sources.py,
with skia-python) at the sizes of Skia's, and committed as PNG files with their thumbnails under
functions/data/builtin_sources/: the functions never import Skia. They carry the project's own
licence; no third-party picture is in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent / "data" / "builtin_sources"
# Metadata key on source/<id> that marks a built-in image (an upload never has it).
BUILTIN_KEY = "builtin"
CREATOR = "fiddle"


@dataclass(frozen=True)
class BuiltinSource:
    id: int
    name: str
    width: int
    height: int


BUILTIN_SOURCES = (
    BuiltinSource(1, "Blue blob", 256, 256),
    BuiltinSource(2, "Red blob", 256, 256),
    BuiltinSource(3, "Landscape", 512, 512),
    BuiltinSource(4, "Ball", 500, 505),
    BuiltinSource(5, "Colour wheel", 128, 128),
    BuiltinSource(6, "Checkerboard", 64, 64),
)
LAST_BUILTIN_ID = max(source.id for source in BUILTIN_SOURCES)


def image_path(source_id: int, directory: Path = DIRECTORY) -> Path:
    return directory / f"{source_id}.png"


def thumbnail_path(source_id: int, size: int, directory: Path = DIRECTORY) -> Path:
    return directory / f"{source_id}.thumb{size}.png"


def is_builtin(metadata: dict[str, str]) -> bool:
    return metadata.get(BUILTIN_KEY) == "true"


def builtin_name(source_id: int) -> str | None:
    return next((s.name for s in BUILTIN_SOURCES if s.id == source_id), None)
