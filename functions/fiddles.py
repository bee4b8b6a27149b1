"""Fiddles in the blob store, laid out as in SPEC section 5.

    fiddle/<hash>/draw.py            the code; options as metadata
    fiddle/<hash>/<runid>/<output>   cpu.png pdf.pdf skp.skp txt.txt ...
    fiddle/<hash>/<runid>/run.json   written last: the run is complete only once it exists

Every object here is written once (if_generation_match=0): the same hash always means the same
code and options, and a run's outputs never change after they are stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from functions.options import FiddleOptions
from functions.storage.blobstore import BlobStore, InvalidName, NotFound, PreconditionFailed

HASH_RE = re.compile(r"[0-9a-f]{32}")
RUNID_RE = re.compile(r"[0-9][0-9A-Za-z:.+_-]{0,79}")
NAME_RE = re.compile(r"[0-9a-zA-Z_]{1,128}")
RUN_MARKER = "run.json"

# URL suffix (SPEC section 4) -> stored object name (SPEC section 5), and its content type.
OUTPUT_SUFFIXES = {
    "_raster.png": ("cpu.png", "image/png"),
    "_gpu.png": ("gpu.png", "image/png"),
    ".pdf": ("pdf.pdf", "application/pdf"),
    ".skp": ("skp.skp", "application/octet-stream"),
    ".txt": ("txt.txt", "text/plain; charset=utf-8"),
    "_cpu.webm": ("cpu.webm", "video/webm"),
    "_gpu.webm": ("gpu.webm", "video/webm"),
}
CONTENT_TYPES = dict(OUTPUT_SUFFIXES.values())


@dataclass(frozen=True)
class StoredFiddle:
    hash: str
    code: str
    options: FiddleOptions


@dataclass(frozen=True)
class StoredRun:
    runid: str
    outputs: tuple[str, ...]
    text: str


class FiddleRepository:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def save_code(self, fiddle_hash: str, code: str, options: FiddleOptions) -> None:
        self._write_once(
            f"fiddle/{fiddle_hash}/draw.py",
            code.encode("utf-8"),
            options.to_metadata(),
            "text/x-python; charset=utf-8",
        )

    def load(self, fiddle_hash: str) -> StoredFiddle | None:
        if not HASH_RE.fullmatch(fiddle_hash):
            return None
        try:
            blob = self.store.read(f"fiddle/{fiddle_hash}/draw.py")
        except NotFound:
            return None
        options = FiddleOptions.from_metadata(blob.metadata)
        return StoredFiddle(fiddle_hash, blob.data.decode("utf-8"), options)

    def save_run(self, fiddle_hash: str, runid: str, outputs: dict[str, bytes], text: str) -> None:
        """Store a successful run's outputs, then the marker that makes the run visible."""
        prefix = f"fiddle/{fiddle_hash}/{runid}"
        for name, data in outputs.items():
            self._write_once(f"{prefix}/{name}", data, {}, CONTENT_TYPES.get(name, ""))
        marker = {"outputs": sorted(outputs), "text": text}
        self._write_once(
            f"{prefix}/{RUN_MARKER}", json.dumps(marker).encode(), {}, "application/json"
        )

    def runs(self, fiddle_hash: str) -> list[str]:
        """Complete runs of the fiddle, oldest first (runids sort by release time)."""
        prefix = f"fiddle/{fiddle_hash}/"
        found = {
            info.name[len(prefix) :].split("/")[0]
            for info in self.store.list(prefix)
            if info.name.endswith(f"/{RUN_MARKER}")
        }
        return sorted(found)

    def run(self, fiddle_hash: str, runid: str) -> StoredRun | None:
        if not (HASH_RE.fullmatch(fiddle_hash) and RUNID_RE.fullmatch(runid)):
            return None
        try:
            blob = self.store.read(f"fiddle/{fiddle_hash}/{runid}/{RUN_MARKER}")
        except NotFound:
            return None
        marker = json.loads(blob.data)
        return StoredRun(runid, tuple(marker["outputs"]), marker.get("text", ""))

    def newest_run(self, fiddle_hash: str) -> StoredRun | None:
        runs = self.runs(fiddle_hash) if HASH_RE.fullmatch(fiddle_hash) else []
        return self.run(fiddle_hash, runs[-1]) if runs else None

    def output(self, fiddle_hash: str, runid: str, name: str) -> bytes | None:
        if not (HASH_RE.fullmatch(fiddle_hash) and RUNID_RE.fullmatch(runid)):
            return None
        if name not in CONTENT_TYPES:
            return None
        try:
            return self.store.read(f"fiddle/{fiddle_hash}/{runid}/{name}").data
        except (NotFound, InvalidName):
            return None

    def delete_outputs(self, fiddle_hash: str) -> int:
        """Delete every run of the fiddle (markers first, so no half run is ever shown); keep
        the code. Returns how many objects were removed."""
        names = [info.name for info in self.store.list(f"fiddle/{fiddle_hash}/")]
        runs = [n for n in names if n.count("/") == 3]
        ordered = sorted(runs, key=lambda n: not n.endswith(f"/{RUN_MARKER}"))
        for name in ordered:
            try:
                self.store.delete(name)
            except NotFound:
                pass
        return len(ordered)

    def resolve(self, reference: str) -> str | None:
        """A hash, or `@name` looked up in named/<name>; None when neither exists."""
        if not reference.startswith("@"):
            return reference if HASH_RE.fullmatch(reference) else None
        name = reference[1:]
        if not NAME_RE.fullmatch(name):
            return None
        try:
            target = self.store.read(f"named/{name}").data.decode("ascii", "replace").strip()
        except NotFound:
            return None
        return target if HASH_RE.fullmatch(target) else None

    def source_exists(self, source_id: int) -> bool:
        return source_id > 0 and self.store.exists(f"source/{source_id}")

    def source_png(self, source_id: int) -> bytes | None:
        try:
            return self.store.read(f"source/{source_id}").data
        except NotFound:
            return None

    def _write_once(
        self, name: str, data: bytes, metadata: dict[str, str], content_type: str
    ) -> None:
        try:
            self.store.write(
                name,
                data,
                metadata=metadata,
                content_type=content_type or "application/octet-stream",
                if_generation_match=0,
            )
        except PreconditionFailed:
            # Already stored by an earlier or concurrent identical run: same hash, same content.
            pass


def split_output_reference(filename: str) -> tuple[str, str] | None:
    """`<hash or @name><suffix>` -> (reference, stored output name)."""
    for suffix, (stored, _) in OUTPUT_SUFFIXES.items():
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)], stored
    return None
