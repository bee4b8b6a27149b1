"""The kinds of job: how each checks its parameters and lists its items when it is started, and
how a worker does one item.

- `rerun-named` {"build": version (HEAD), "previous": version (the build before it)}: one item
  per named fiddle; each runs the fiddle at both builds (from storage where it ran there
  already), compares them and records the name's status (functions/jobs/named_status.py).
- `rerun-fiddles` {"hashes": [hash, ...], "builds": [version, ...] or "all" (["HEAD"])}: one
  item per fiddle and build, `<hash>@<runid>`.
- `purge-source` {"source": id}: one item per fiddle rendered from the deleted image; each
  withdraws every run of the fiddle (functions/source_runs.py). Started only by the deletion
  (functions/jobs/service.py, `Jobs.purge_source`), after it removed the image.

Builds are resolved to runids when the job starts, so a job means the same builds however long
it waits. Doing an item twice gives the same result: runs are stored once per fiddle and build
and answered from storage afterwards, statuses are rewritten whole, a purged fiddle is skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fiddle_protocol import outputs as registry
from fiddle_protocol import versions
from functions import errors
from functions.comparisons import Comparisons, NotCompared
from functions.fiddles import FiddleRepository, StoredFiddle
from functions.jobs.model import (
    KINDS,
    MAX_ITEMS,
    PURGE_SOURCE,
    RERUN_FIDDLES,
    RERUN_NAMED,
    Job,
)
from functions.jobs.named_status import (
    BROKEN,
    CHANGED,
    FAILING,
    BuildOutcome,
    NamedStatus,
    NamedStatuses,
    decide,
    first_line,
)
from functions.named import NamedFiddles
from functions.runs import RunAnswer, RunDispatcher
from functions.schemas import ALL_VERSIONS, InvalidRequest
from functions.source_runs import SourceRuns
from functions.storage.layout import HASH_RE

SKIPPED, OK, FAILED, ERROR = "skipped", "ok", "failed", "error"


class RetryLater(Exception):
    """The item cannot be done now (every runner busy or down): try it again after a while."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


class JobFailed(Exception):
    """The job cannot go on (its build is gone): it ends `failed` with this sentence."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok, failed, skipped, error; for names: ok, changed, broken, failing
    error: str = ""


def _bad(field: str, message: str) -> errors.InvalidInput:
    return errors.InvalidInput(message, {f"params.{field}": [message]})


class JobKinds:
    """Starting and doing jobs, over the service's runs (as background runs) and storage."""

    def __init__(
        self,
        runs: RunDispatcher,
        fiddles: FiddleRepository,
        named: NamedFiddles,
        statuses: NamedStatuses,
        comparisons: Comparisons,
        source_runs: SourceRuns,
    ) -> None:
        self.source_runs = source_runs
        self.runs = runs
        self.fiddles = fiddles
        self.named = named
        self.statuses = statuses
        self.comparisons = comparisons

    # --- starting -----------------------------------------------------------------------------

    def expand(self, kind: object, params: object) -> tuple[dict[str, Any], list[str]]:
        """The job's parameters with builds resolved, and its items; a 400 for bad ones."""
        if kind == PURGE_SOURCE:
            message = (
                "A purge-source job is started by deleting the source image"
                " (DELETE /_/source/<id>), which first makes it unavailable."
            )
            raise errors.InvalidInput(message, {"kind": [message]})
        if kind not in KINDS:
            message = f"Unknown job kind {kind!r}: use one of {', '.join(KINDS)}."
            raise errors.InvalidInput(message, {"kind": [message]})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise errors.InvalidInput(
                "params must be a JSON object.", {"params": ["must be an object"]}
            )
        expanded = (
            self._named_params(params) if kind == RERUN_NAMED else self._fiddle_params(params)
        )
        if len(expanded[1]) > MAX_ITEMS:
            raise errors.InvalidInput(
                f"A job has at most {MAX_ITEMS} items; this one would have {len(expanded[1])}."
            )
        return expanded

    def _named_params(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        _only(params, ("build", "previous"))
        build = self._build(params.get("build", versions.HEAD), "build")
        previous = params.get("previous")
        if previous is None:
            older = [b for b in self.runs.runner.builds() if b.runid < build]
            previous_runid = versions.newest_first(older)[0].runid if older else ""
        else:
            previous_runid = self._build(previous, "previous")
            if previous_runid == build:
                raise _bad("previous", "previous must be another build than build.")
        names = sorted(named.name for named in self.named.all())
        return {"build": build, "previous": previous_runid}, names

    def _fiddle_params(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        _only(params, ("hashes", "builds"))
        hashes = params.get("hashes")
        if (
            not isinstance(hashes, list)
            or not hashes
            or not all(isinstance(h, str) for h in hashes)
        ):
            raise _bad("hashes", "hashes must be a non-empty list of fiddle hashes.")
        canonical = [self._stored_hash(h) for h in hashes]
        builds = self._builds(params.get("builds", [versions.HEAD]))
        items = [f"{h}@{b}" for h in dict.fromkeys(canonical) for b in builds]
        return {"hashes": list(dict.fromkeys(canonical)), "builds": builds}, items

    def _stored_hash(self, reference: str) -> str:
        found = (
            self.fiddles.lookup(reference, self.fiddles.load)
            if HASH_RE.fullmatch(reference)
            else None
        )
        if found is None:
            raise _bad("hashes", f"There is no fiddle {reference[:40]}.")
        return found[0]

    def _builds(self, named: object) -> list[str]:
        if named == ALL_VERSIONS:
            return [b.runid for b in versions.newest_first(self.runs.runner.builds())]
        if not isinstance(named, list) or not named:
            raise _bad("builds", 'builds must be "all" or a non-empty list of versions.')
        return list(dict.fromkeys(self._build(version, "builds") for version in named))

    def _build(self, version: object, field: str) -> str:
        if not isinstance(version, str) or not version.strip():
            raise _bad(field, f"{field} must be a version such as HEAD, m87, 87.9 or a runid.")
        try:
            return self.runs.build_named(version).runid
        except InvalidRequest as unknown:
            raise _bad(field, unknown.message) from None

    # --- doing --------------------------------------------------------------------------------

    def run_item(self, job: Job, item: str) -> Outcome:
        if job.kind == RERUN_NAMED:
            return self._named_item(job, item)
        if job.kind == RERUN_FIDDLES:
            digest, _, runid = item.partition("@")
            fiddle = self.fiddles.load(digest)
            if fiddle is None:
                return Outcome(SKIPPED, f"the fiddle {digest} is gone")
            outcome = self._at(fiddle, runid)
            return Outcome(OK) if outcome.clean else Outcome(FAILED, outcome.error)
        if job.kind == PURGE_SOURCE:
            return self._purge_item(int(job.params["source"]), item)
        raise JobFailed(f"Unknown job kind {job.kind!r}.")

    def _named_item(self, job: Job, name: str) -> Outcome:
        named = self.named.get(name)
        fiddle = self.fiddles.load(named.hash) if named else None
        if named is None or fiddle is None:
            return Outcome(SKIPPED, f"the name {name} no longer names a fiddle")
        build, previous = job.params["build"], job.params.get("previous", "")
        new = self._at(fiddle, build)
        old = self._at(fiddle, previous) if previous else None
        both_clean = new.clean and old is not None and old.clean
        pixels = self._changed_pixels(fiddle, previous, build) if both_clean else 0
        status = decide(new, old, pixels)
        compare = f"/c/{fiddle.hash}?compare={previous},{build}" if status == CHANGED else ""
        error = new.error if status in (BROKEN, FAILING) else ""
        record = NamedStatus(
            name, fiddle.hash, status, build, previous, error, compare, pixels, time.time()
        )
        self.statuses.record(record, [o for o in (new, old) if o is not None])
        return Outcome(status, error)

    def _purge_item(self, source_id: int, fiddle_hash: str) -> Outcome:
        if self.fiddles.source_generation(source_id) is not None:
            # Ids are never used again, so this is a store changed by hand: withdraw nothing.
            raise JobFailed(f"Source image {source_id} exists again; nothing more was purged.")
        withdrawn = self.source_runs.withdraw_fiddle(source_id, fiddle_hash)
        return Outcome(SKIPPED) if withdrawn is None else Outcome(OK)

    def _at(self, fiddle: StoredFiddle, runid: str) -> BuildOutcome:
        try:
            answer = self.runs.run_stored(fiddle, runid)
        except (errors.Busy, errors.Unavailable) as busy:
            raise RetryLater(busy.message, busy.retry_after or 1) from busy
        except InvalidRequest as gone:
            raise JobFailed(f"Skia build {runid} is no longer available: {gone.message}") from gone
        return BuildOutcome(runid, _clean(answer), _error_line(answer))

    def _changed_pixels(self, fiddle: StoredFiddle, older: str, newer: str) -> int:
        """Pixels that differ between the two builds' rasters (computed in the sandbox, and only
        when the PNGs differ at all); a fiddle without a raster compares its text."""
        raster = registry.RASTER.stored
        first = self.fiddles.output(fiddle.hash, older, raster)
        second = self.fiddles.output(fiddle.hash, newer, raster)
        if first is None or second is None:
            texts = [self.fiddles.run(fiddle.hash, runid) for runid in (older, newer)]
            return int(
                texts[0] is not None and texts[1] is not None and texts[0].text != texts[1].text
            )
        if first == second:
            return 0
        try:
            return self.comparisons.diff(fiddle, older, newer, ()).changed
        except NotCompared as failed:
            if failed.retry_after is None:
                raise  # not for want of a runner: the item ends as an error, with this sentence
            raise RetryLater(failed.message, failed.retry_after) from failed


def _only(params: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _bad(
            unknown[0], f"Unknown parameter {unknown[0]!r}: this kind takes {', '.join(known)}."
        )


def _clean(answer: RunAnswer) -> bool:
    return not answer.compile_errors and not answer.runtime_error


def _error_line(answer: RunAnswer) -> str:
    if answer.compile_errors:
        return first_line(str(answer.compile_errors[0].get("text", "")))
    return first_line(answer.runtime_error)
