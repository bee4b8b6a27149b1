"""Fiddles in the blob store: their code and runs (the names are functions/storage/layout.py's;
each output's stored name is fiddle_protocol/outputs.py's).

Every object here is written once (if_generation_match=0): the same hash always means the same
code and options, and a run's outputs never change after they are stored. The one exception is
a withdrawn run: deleting a source image overwrites the run's marker with a withdrawal marker
(metadata `withdrawn`), which no reader shows and no later commit can replace (see
functions/source_runs.py for why it must stay).

A run is shown (by run(), runs(), newest_run() and output()) only when its marker is a commit
marker and, for a fiddle that renders a source image, that image still exists with the
generation the run rendered: a run whose image was deleted is never served, whatever was left
in storage by a crash or by runs stored before deletions withdrew them.

What the read path learns is kept in a bounded cache of this process (functions/readcache.py),
so that serving an output costs no storage request once it has been served before:
- a fiddle's code and options, a run's commit marker and a run's outputs, for good: they are
  written once and never change. The one change, withdrawal, is seen without the cache: a
  withdrawn run always rendered a source image, and whether that image is still there (with the
  generation the marker names) is asked of storage on every read, so a deletion made by another
  process (another Cloud Functions instance) hides the run at once. A withdrawal made here also
  drops what the cache holds of the run;
- the list of a fiddle's committed runs, for RUN_LIST_SECONDS: a run committed by another
  process (a new Skia build) shows up by then, and at once when it was committed here. An empty
  list is never kept, so a fiddle run elsewhere is found on its first read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard, TypeVar

from fiddle_protocol import outputs as registry
from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.options import FiddleOptions
from functions.hashing import fiddle_hash, skia_hash
from functions.readcache import ReadCache
from functions.storage import layout
from functions.storage.blobstore import (
    Blob,
    BlobStore,
    InvalidName,
    NotFound,
    PreconditionFailed,
)
from functions.storage.layout import HASH_RE, NAME_RE, RUNID_RE, WITHDRAWN
from functions.text import decode_text, valid_text, valid_utf8

log = logging.getLogger(__name__)
TEXT_OUTPUT = registry.TEXT.stored
Found = TypeVar("Found")
# What the read cache may hold in all, and the largest output it keeps (bigger ones are read from
# storage each time: they are few, and their transfer costs more than the read).
READ_CACHE_BYTES = 64 << 20
LARGEST_CACHED_OUTPUT = 2 << 20
# How long a fiddle's list of committed runs is trusted (see the module's docstring); /i/ answers
# say max-age=60, so a client may see an older run that long anyway.
RUN_LIST_SECONDS = 10.0
# The bookkeeping of an entry beyond its data, for the cache's size accounting.
_ENTRY_OVERHEAD = 200


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
    # The source image the run rendered (0: none), so whether it can ever be withdrawn.
    source: int = 0
    # Output name -> the user's traceback, for each output whose pass failed alone.
    output_errors: Mapping[str, str] = field(default_factory=dict)
    # The GPU of the runner that rendered it (or why it had none); None for runs stored before
    # runners said.
    gpu: GpuStatus | None = None


@dataclass(frozen=True)
class _Marker:
    """A commit marker as read: the outputs and text it names, and its `source` field as stored
    (None in markers written before markers named their source)."""

    outputs: tuple[str, ...]
    text: str
    source: object
    output_errors: Mapping[str, str]
    gpu: GpuStatus | None


@dataclass(frozen=True)
class StoredFailure:
    """The errors of the last run at a build that failed: what a page shows instead of outputs."""

    runid: str
    compile_errors: tuple[str, ...]
    runtime_error: str


@dataclass(frozen=True)
class StoredDiff:
    """The pixel difference of two runs' rasters, and how many of its pixels changed."""

    data: bytes
    changed: int
    total: int
    # The source image the two runs rendered (0: none): the difference goes with it.
    source: int = 0


@dataclass(frozen=True)
class SourceRef:
    """The source image a run rendered: its id and the generation of source/<id> it read."""

    id: int
    generation: int


class RunWithdrawn(Exception):
    """The run's marker name already holds a withdrawal marker: the run may never be stored."""


class FiddleRepository:
    def __init__(
        self,
        store: BlobStore,
        cache: ReadCache | None = None,
        on_change: Callable[[str], None] = lambda fiddle_hash: None,
    ) -> None:
        self.store = store
        self.cache = cache or ReadCache(READ_CACHE_BYTES)
        self.run_list_seconds = RUN_LIST_SECONDS
        # Told the fiddle's hash whenever this process changes its runs (the response cache).
        self.on_change = on_change

    # --- code ---------------------------------------------------------------------------------

    def save_code(self, fiddle_hash: str, code: str, options: FiddleOptions) -> None:
        """Store the code under its canonical hash, then the alias of its Skia-form hash."""
        self._write_once(
            layout.code(fiddle_hash),
            code.encode("utf-8"),
            options.to_metadata(),
            "text/x-python; charset=utf-8",
        )
        self.save_alias(fiddle_hash, skia_hash(code, options))

    def save_alias(self, canonical: str, other: str) -> bool:
        """alias/<other> -> canonical, create-only (the same code and options always give the
        same pair); none when both forms are one (code without a newline). True if written."""
        if other == canonical:
            return False
        return self._write_once(
            layout.alias(other), canonical.encode("ascii"), {}, "text/plain; charset=utf-8"
        )

    def load(self, fiddle_hash: str) -> StoredFiddle | None:
        if not HASH_RE.fullmatch(fiddle_hash):
            return None
        key = ("code", fiddle_hash)
        cached: StoredFiddle | None = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            blob = self.store.read(layout.code(fiddle_hash))
        except NotFound:
            return None
        fiddle = StoredFiddle(fiddle_hash, decode_text(blob.data), _options(blob.metadata))
        self.cache.put(key, fiddle, len(blob.data) + _ENTRY_OVERHEAD)
        return fiddle

    # --- storing runs -------------------------------------------------------------------------

    def save_run(
        self,
        fiddle_hash: str,
        runid: str,
        outputs: dict[str, bytes],
        text: str,
        output_errors: Mapping[str, str] | None = None,
        gpu: GpuStatus | None = None,
    ) -> None:
        """Store a run that renders no source image: outputs, then the marker that shows it."""
        self.store_outputs(fiddle_hash, runid, outputs)
        self.commit_run(fiddle_hash, runid, outputs, text, None, output_errors, gpu)

    def store_outputs(self, fiddle_hash: str, runid: str, outputs: dict[str, bytes]) -> None:
        for name, data in outputs.items():
            if name == TEXT_OUTPUT:
                data = valid_utf8(data)
            key = layout.output(fiddle_hash, runid, name)
            self._write_once(key, data, {}, _content_type(name))

    def commit_run(
        self,
        fiddle_hash: str,
        runid: str,
        outputs: dict[str, bytes],
        text: str,
        source: SourceRef | None,
        output_errors: Mapping[str, str] | None = None,
        gpu: GpuStatus | None = None,
    ) -> None:
        """Write the run's marker, create-only; RunWithdrawn if a withdrawal marker is there.
        The marker names the outputs, holds the printed text and the errors of the outputs
        whose pass failed alone (output name -> traceback), and the source image rendered."""
        marker: dict[str, Any] = {"outputs": sorted(outputs), "text": valid_text(text)}
        marker.update(source={"id": source.id, "generation": source.generation} if source else 0)
        errors = {name: valid_text(error) for name, error in (output_errors or {}).items()}
        if errors:
            marker["output_errors"] = errors
        if gpu is not None:
            marker["gpu"] = gpu.to_json()
        name = layout.run_marker(fiddle_hash, runid)
        data = json.dumps(marker).encode()
        try:
            self.store.write(name, data, content_type="application/json", if_generation_match=0)
        except PreconditionFailed:
            # An identical run committed first (same hash and build: same outputs), or the run
            # was withdrawn before it could commit.
            if self._withdrawn(name):
                raise RunWithdrawn(name) from None
        finally:
            self.cache.discard(_runs_key(fiddle_hash), _states_key(fiddle_hash))
            self.on_change(fiddle_hash)

    def _withdrawn(self, marker_name: str) -> bool:
        try:
            return WITHDRAWN in self.store.stat(marker_name).metadata
        except NotFound:
            return False

    def save_failure(
        self,
        fiddle_hash: str,
        runid: str,
        compile_errors: tuple[str, ...],
        runtime_error: str,
        source: SourceRef | None,
    ) -> None:
        """Record the errors of a failed run at a build (replacing the last one recorded)."""
        record: dict[str, Any] = {
            "compile_errors": [valid_text(text) for text in compile_errors],
            "runtime_error": valid_text(runtime_error),
            "source": {"id": source.id, "generation": source.generation} if source else 0,
        }
        try:
            self.store.write(
                layout.failure(fiddle_hash, runid),
                json.dumps(record).encode(),
                content_type="application/json",
            )
        finally:
            self.cache.discard(_states_key(fiddle_hash))
            self.on_change(fiddle_hash)

    def save_diff(self, fiddle_hash: str, runid: str, other: str, diff: StoredDiff) -> None:
        """Store the difference of two runs' rasters, create-only (the same pair of runs always
        gives the same one)."""
        metadata = {"changed": str(diff.changed), "total": str(diff.total)}
        self._write_once(layout.diff(fiddle_hash, runid, other), diff.data, metadata, "image/png")

    # --- withdrawing runs ---------------------------------------------------------------------

    def withdraw_run(self, fiddle_hash: str, runid: str, reason: str) -> None:
        """Replace the run's marker with a withdrawal marker (whatever is there, or nothing),
        then remove its outputs. From the first step on, the run is never shown or committed."""
        self.store.write(
            layout.run_marker(fiddle_hash, runid),
            json.dumps({WITHDRAWN: reason}).encode(),
            metadata={WITHDRAWN: reason},
            content_type="application/json",
        )
        self._forget_run(fiddle_hash, runid)
        self.discard_outputs(fiddle_hash, runid)

    def discard_outputs(self, fiddle_hash: str, runid: str) -> None:
        """Remove every object of the run but its marker."""
        for info in list(self.store.list(layout.run_prefix(fiddle_hash, runid))):
            if not _is_marker(info.name):
                self._delete_quietly(info.name)
        self._forget_run(fiddle_hash, runid)

    def _forget_run(self, fiddle_hash: str, runid: str) -> None:
        """Drop what the read cache holds of the run (its marker, outputs, its fiddle's list)."""
        outputs = [_output_key(fiddle_hash, runid, out.stored) for out in registry.DRAW_OUTPUTS]
        self.cache.discard(
            _marker_key(fiddle_hash, runid), _runs_key(fiddle_hash), _states_key(fiddle_hash),
            *outputs,
        )  # fmt: skip
        self.on_change(fiddle_hash)

    def stored_runids(self, fiddle_hash: str) -> list[str]:
        """Every run directory of the fiddle: committed, withdrawn or left unfinished."""
        objects = self._run_objects(fiddle_hash)
        return sorted({run_object.runid for run_object, _ in objects})

    # --- reading runs -------------------------------------------------------------------------

    def runs(self, fiddle_hash: str) -> list[str]:
        """Committed runs of the fiddle, oldest first (runids sort by release time)."""
        objects = self._run_objects(fiddle_hash)
        found = {
            obj.runid for obj, metadata in objects if obj.is_marker and WITHDRAWN not in metadata
        }
        return sorted(found)

    def _recent_runs(self, fiddle_hash: str) -> tuple[str, ...]:
        """runs(), as listed at most run_list_seconds ago (see the module's docstring)."""
        return self._listed(_runs_key(fiddle_hash), lambda: self.runs(fiddle_hash))

    def _state_runids(self, fiddle_hash: str) -> tuple[str, ...]:
        """The builds the fiddle has anything stored at (a run or a failure's record), as listed
        at most run_list_seconds ago, or since this process last stored one: listing the store
        with its metadata on every /e/ and page cost more than all the rest of the answer."""
        return self._listed(
            _states_key(fiddle_hash),
            lambda: sorted({obj.runid for obj, _ in self._run_objects(fiddle_hash)}),
        )

    def _listed(self, key: Hashable, list_now: Callable[[], list[str]]) -> tuple[str, ...]:
        """A listing of runids from the cache, or listed now and kept run_list_seconds (an
        empty one is not kept: the next run makes it wrong at once)."""
        cached: tuple[str, ...] | None = self.cache.get(key)
        if cached is not None:
            return cached
        runids = tuple(list_now())
        if runids:
            size = sum(map(len, runids)) + _ENTRY_OVERHEAD
            self.cache.put(key, runids, size, ttl=self.run_list_seconds)
        return runids

    def _run_objects(self, fiddle_hash: str) -> list[tuple[layout.RunObject, dict[str, str]]]:
        """Every object in the fiddle's run directories, with its metadata."""
        found = []
        for info in self.store.list(layout.fiddle_prefix(fiddle_hash)):
            run_object = layout.parse_run_object(info.name)
            if run_object is not None:
                found.append((run_object, info.metadata))
        return found

    def run(self, fiddle_hash: str, runid: str) -> StoredRun | None:
        """The run, if it is committed and may be shown; None otherwise."""
        if not (HASH_RE.fullmatch(fiddle_hash) and RUNID_RE.fullmatch(runid)):
            return None
        marker = self._commit_marker(fiddle_hash, runid)
        if marker is None or not self._source_current(fiddle_hash, marker.source):
            return None
        source = self._source_id(fiddle_hash, marker.source)
        return StoredRun(
            runid, marker.outputs, marker.text, source, marker.output_errors, marker.gpu
        )

    def _source_id(self, fiddle_hash: str, source: object) -> int:
        """The id of the image a shown run rendered, from its marker (or, for a marker from
        before markers named it, the fiddle's options)."""
        if isinstance(source, dict):
            return int(source["id"])
        return self._options_source(fiddle_hash) if source is None else 0

    def _commit_marker(self, fiddle_hash: str, runid: str) -> _Marker | None:
        """The run's commit marker, from the cache when it was read before; None when there is
        none (a withdrawal marker, or one that cannot be read, is never kept)."""
        key = _marker_key(fiddle_hash, runid)
        cached: _Marker | None = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            blob = self.store.read(layout.run_marker(fiddle_hash, runid))
        except NotFound:
            return None
        contents = _marker(blob)
        if contents is None:
            return None
        marker = _Marker(
            _output_names(contents),
            _marker_text(contents),
            contents.get("source"),
            _marker_output_errors(contents),
            _marker_gpu(contents),
        )
        self.cache.put(key, marker, len(blob.data) + _ENTRY_OVERHEAD)
        return marker

    def failure(self, fiddle_hash: str, runid: str) -> StoredFailure | None:
        """The recorded failure of the fiddle at a build, if it may be shown."""
        if not (HASH_RE.fullmatch(fiddle_hash) and RUNID_RE.fullmatch(runid)):
            return None
        try:
            blob = self.store.read(layout.failure(fiddle_hash, runid))
            record = json.loads(decode_text(blob.data))
        except (NotFound, ValueError, RecursionError):
            return None
        if not isinstance(record, dict):
            return None
        if not self._source_current(fiddle_hash, record.get("source", 0)):
            return None
        errors = record.get("compile_errors")
        texts = tuple(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else ()
        runtime_error = record.get("runtime_error")
        return StoredFailure(runid, texts, runtime_error if isinstance(runtime_error, str) else "")

    def build_states(self, fiddle_hash: str) -> dict[str, StoredRun | StoredFailure]:
        """What the fiddle has at each build it ran at: its run (outputs), or else the errors of
        its last failed run there. Only what may be shown."""
        found: dict[str, StoredRun | StoredFailure] = {}
        for runid in self._state_runids(fiddle_hash) if HASH_RE.fullmatch(fiddle_hash) else ():
            state = self.run(fiddle_hash, runid) or self.failure(fiddle_hash, runid)
            if state is not None:
                found[runid] = state
        return found

    def diff(self, fiddle_hash: str, runid: str, other: str) -> StoredDiff | None:
        """The stored difference of two runs, while both may be shown."""
        first, second = self.run(fiddle_hash, runid), self.run(fiddle_hash, other)
        if first is None or second is None:
            return None
        try:
            blob = self.store.read(layout.diff(fiddle_hash, runid, other))
            changed, total = int(blob.metadata["changed"]), int(blob.metadata["total"])
        except (NotFound, InvalidName, KeyError, ValueError):
            return None
        return StoredDiff(blob.data, changed, total, first.source or second.source)

    def newest_run(self, fiddle_hash: str) -> StoredRun | None:
        runs = self._recent_runs(fiddle_hash) if HASH_RE.fullmatch(fiddle_hash) else ()
        for runid in reversed(runs):
            run = self.run(fiddle_hash, runid)
            if run is not None:
                return run
        return None

    def output(self, fiddle_hash: str, runid: str, name: str) -> bytes | None:
        """An output of a run that may be shown; None for anything else."""
        run = self.run(fiddle_hash, runid)
        return self.run_output(fiddle_hash, run, name) if run else None

    def run_output(self, fiddle_hash: str, run: StoredRun, name: str) -> bytes | None:
        """An output of a run just found by run() or newest_run(); None if it has no such one."""
        if name not in run.outputs or registry.by_stored(name) is None:
            return None
        key = _output_key(fiddle_hash, run.runid, name)
        cached: bytes | None = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            data = self.store.read(layout.output(fiddle_hash, run.runid, name)).data
        except (NotFound, InvalidName):
            return None
        if len(data) <= LARGEST_CACHED_OUTPUT:
            self.cache.put(key, data, len(data) + _ENTRY_OVERHEAD)
        return data

    def _source_current(self, fiddle_hash: str, source: object) -> bool:
        """Whether the source image the run rendered is still there, as it was then."""
        if source is None:  # a marker from before markers named their source
            legacy = self._options_source(fiddle_hash)
            return legacy == 0 or self.source_generation(legacy) is not None
        if source == 0:
            return True
        if not isinstance(source, dict):
            return False
        source_id, generation = source.get("id"), source.get("generation")
        if not (_is_int(source_id) and _is_int(generation)):
            return False
        return self.source_generation(source_id) == generation

    def _options_source(self, fiddle_hash: str) -> int:
        fiddle = self.load(fiddle_hash)
        return fiddle.options.source if fiddle else 0

    # --- names, aliases and source images ------------------------------------------------------

    def lookup(
        self, reference: str, find: Callable[[str], Found | None]
    ) -> tuple[str, Found] | None:
        """What find() gives for the fiddle `reference` names (a hash in either form, or
        `@name`), with the canonical hash it was found under; None when nothing is found.

        The reference is tried as it is first, so a canonical hash or a name costs nothing more;
        only when that finds nothing is it followed through its alias (a Skia-form hash)."""
        digest = self.resolve(reference)
        if digest is None:
            return None
        found = find(digest)
        if found is not None:
            return digest, found
        canonical = self.alias_target(digest)
        found = find(canonical) if canonical else None
        return (canonical, found) if canonical and found is not None else None

    def alias_target(self, other: str) -> str | None:
        """The canonical hash a Skia-form hash stands for; None when it is no alias."""
        if not HASH_RE.fullmatch(other):
            return None
        try:
            target = self.store.read(layout.alias(other)).data.decode("ascii", "replace").strip()
        except NotFound:
            return None
        return target if HASH_RE.fullmatch(target) else None

    def backfill_aliases(self) -> dict[str, int]:
        """Write the alias of every stored fiddle that has none (fiddles stored before aliases
        existed). Counts what it did: written, present (or not needed), and skipped (stored code
        and options that do not give the fiddle's own hash, which no alias may point to)."""
        counts = {"written": 0, "present": 0, "skipped": 0}
        for info in self.store.list(layout.FIDDLES):
            digest = layout.parse_code_object(info.name)
            fiddle = self.load(digest) if digest else None
            if fiddle is None:
                continue
            if fiddle_hash(fiddle.code, fiddle.options) != digest:
                counts["skipped"] += 1
                continue
            written = self.save_alias(digest, skia_hash(fiddle.code, fiddle.options))
            counts["written" if written else "present"] += 1
        return counts

    def resolve(self, reference: str) -> str | None:
        """A hash, or `@name` looked up in named/<name>; None when neither exists."""
        if not reference.startswith("@"):
            return reference if HASH_RE.fullmatch(reference) else None
        name = reference[1:]
        if not NAME_RE.fullmatch(name):
            return None
        try:
            target = self.store.read(layout.named(name)).data.decode("ascii", "replace").strip()
        except NotFound:
            return None
        return target if HASH_RE.fullmatch(target) else None

    def source_exists(self, source_id: int) -> bool:
        return self.source_generation(source_id) is not None

    def source_generation(self, source_id: int) -> int | None:
        """The generation of source/<id>; None when there is no such image (0 included)."""
        if source_id <= 0:
            return None
        try:
            return self.store.stat(layout.source(source_id)).generation
        except (NotFound, InvalidName):
            return None

    def source_image(self, source_id: int) -> Blob | None:
        try:
            return self.store.read(layout.source(source_id)) if source_id > 0 else None
        except (NotFound, InvalidName):
            return None

    # --- helpers ------------------------------------------------------------------------------

    def _write_once(
        self, name: str, data: bytes, metadata: dict[str, str], content_type: str
    ) -> bool:
        """Create the object; False (and nothing written) when it exists already."""
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
            return False
        return True

    def _delete_quietly(self, name: str) -> None:
        try:
            self.store.delete(name)
        except NotFound:
            pass


def _runs_key(fiddle_hash: str) -> Hashable:
    return ("runs", fiddle_hash)


def _states_key(fiddle_hash: str) -> Hashable:
    return ("states", fiddle_hash)


def _marker_key(fiddle_hash: str, runid: str) -> Hashable:
    return ("marker", fiddle_hash, runid)


def _output_key(fiddle_hash: str, runid: str, name: str) -> Hashable:
    return ("output", fiddle_hash, runid, name)


def _is_marker(key: str) -> bool:
    run_object = layout.parse_run_object(key)
    return run_object is not None and run_object.is_marker


def _marker(blob: Blob) -> dict[str, Any] | None:
    """A commit marker's contents; None for a withdrawal marker or one that cannot be read."""
    if WITHDRAWN in blob.metadata:
        return None
    try:
        marker = json.loads(decode_text(blob.data))
    except (ValueError, RecursionError):
        log.warning("unreadable run marker %s", blob.name)
        return None
    return marker if isinstance(marker, dict) and WITHDRAWN not in marker else None


def _output_names(marker: dict[str, Any]) -> tuple[str, ...]:
    outputs = marker.get("outputs")
    names = outputs if isinstance(outputs, list) else []
    return tuple(
        name for name in names if isinstance(name, str) and registry.by_stored(name) is not None
    )


def _marker_output_errors(marker: dict[str, Any]) -> dict[str, str]:
    """The marker's output errors: those naming an output of the registry, each as text; a
    marker of an older version has none."""
    errors = marker.get("output_errors")
    if not isinstance(errors, dict):
        return {}
    return {
        name: valid_text(error)
        for name, error in errors.items()
        if isinstance(error, str) and registry.by_name(name) is not None
    }


def _marker_text(marker: dict[str, Any]) -> str:
    text = marker.get("text", "")
    # json.loads turns an escaped lone surrogate ("\\ud800") back into one.
    return valid_text(text) if isinstance(text, str) else ""


def _marker_gpu(marker: dict[str, Any]) -> GpuStatus | None:
    if "gpu" not in marker:
        return None
    try:
        return GpuStatus.from_json(marker["gpu"])
    except (ValueError, TypeError):
        log.warning("unreadable GPU status in a run marker")
        return None


def _options(metadata: dict[str, str]) -> FiddleOptions:
    """The stored options; the defaults when another writer left none that can be read."""
    try:
        return FiddleOptions.from_metadata(metadata)
    except (ValueError, TypeError, RecursionError):
        log.warning("unreadable fiddle options %r", metadata.get("options", "")[:200])
        return FiddleOptions()


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _content_type(stored: str) -> str:
    output = registry.by_stored(stored)
    return output.mime if output else ""
