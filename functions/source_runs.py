"""Runs that render a source image, and deleting that image while they are in flight.

The promise: once `DELETE /_/source/<n>` has answered, no run rendered from image n is shown
(by /i/, /ai/, the pages, /e/ or a cached answer to /_/run), and none is committed later,
whatever was running. Neither store has transactions across objects, so the promise rests on
single-object preconditions, one ordering rule on each side, and a marker that stays.

Names: source/<n> is the image (generation G); fiddle/<h>/<r>/ holds the outputs of one run;
fiddle/<h>/<r>/run.json is the run's commit marker (the run exists once it does); the document
source_uses/<n>-<h>-<r> registers the run as a user of image n.

A run R, after rendering with source/<n> as read at generation G:
  r1  registers <n>-<h>-<r>, before anything of the run is stored;
  r2  checks that source/<n> still has generation G (else: lost);
  r3  writes its outputs, create-only;
  r4  checks again that source/<n> still has generation G (else: lost);
  r5  writes run.json naming n and G, create-only (if_generation_match=0); if the name already
      holds a withdrawal marker: lost.
A run that lost removes its outputs and its registration, stores nothing and answers 409.

A deletion D of image n (the admin's request does d1, d1' and d2, records a purge-source job
over the fiddles d2 found and answers; a worker does d3-d5, one fiddle per item,
functions/jobs/kinds.py):
  d1  deletes source/<n>; from here every check r2/r4 fails and new runs of n are refused;
  d1' deletes the thumbnails and the index entry (no page lists the image any more);
  d2  then lists the registrations of n: the fiddles they name are the job's items;
  for each fiddle (an item), over its run directories (every one: the fiddle's options name n):
  d3  overwrites each run's run.json with a withdrawal marker (no precondition);
  d4  deletes every other object in that run directory;
  d5  deletes the fiddle's registrations of n, last.

Why it holds. R commits only after its check r4 passed, so r1 < r4 < d1 < d2: D's listing sees
R's registration and d3 writes the withdrawal marker at the name R commits to. Whichever of r5
and d3 comes first, the name ends up holding the withdrawal marker: d3 overwrites a commit
marker, and r5's create-only write fails on a withdrawal marker. The marker stays for good (it
is a few bytes; the image's id is never used again, so no run can ever want that name back).
R's outputs are written before r4, hence before d1 and d4, so D deletes them; a run that lost
deletes its own. The other order: if D finished first, R's next check fails and R stores nothing
more and deletes what it wrote.

Serving checks independently (functions/fiddles.py): a marker is shown only while source/<n>
exists with the generation the marker names, so nothing rendered from n is shown from d1 on, not
even what crashes leave behind or what was stored before this protocol existed.

No step needs a precondition on a delete (fake-gcs-server ignores those) or on a read; the only
preconditions are create-only writes, which both stores honour.

Crashes. R dying between r1 and r5 leaves outputs without a marker: never shown, and d2-d4 find
and remove them later (the registration stays). R dying after losing at r4 but before cleaning
up leaves outputs without a marker that no deletion will revisit: never shown, only garbage.
D dying after d1 shows nothing of n (serving check). The request dying before the job is recorded:
repeating the deletion lists the registrations that are left and records the job. The worker
dying mid-item leaves each run either withdrawn (marker replaced, outputs perhaps partly left,
never shown) or intact (its marker and all its outputs, not shown since d1), never a committed
marker missing outputs, because d3 precedes d4 for every run; the next worker does the item again,
and an item whose registrations are gone (d5 done) is skipped.

`on_step` is a seam for tests: it is called with each step's name, so a test can pause a real run
at any point and delete the image there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fiddle_protocol.gpu import GpuStatus
from functions.docstore.base import AlreadyExists, Document, DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.errors import Conflict
from functions.fiddles import FiddleRepository, RunWithdrawn, SourceRef
from functions.storage.layout import SOURCE_USES, source_use_id

STEPS = ("rendered", "registered", "outputs_stored", "checked", "committed")


class SourceWithdrawn(Conflict):
    """The run's source image was deleted while it ran; nothing of the run was stored."""

    def __init__(self, source_id: int) -> None:
        message = (
            f"Source image {source_id} was deleted while the fiddle ran, so nothing was stored."
        )
        super().__init__(message, {"options.source": [message]})
        self.source_id = source_id


def _no_step(step: str) -> None:
    pass


class SourceRuns:
    def __init__(self, fiddles: FiddleRepository, documents: DocumentStore) -> None:
        self.fiddles = fiddles
        self.documents = documents
        self.on_step: Callable[[str], None] = _no_step

    # --- the run's side -----------------------------------------------------------------------

    def store(
        self,
        fiddle_hash: str,
        runid: str,
        outputs: dict[str, bytes],
        text: str,
        source: SourceRef | None,
        output_errors: Mapping[str, str] | None = None,
        gpu: GpuStatus | None = None,
    ) -> None:
        """Store a successful run (with the errors of the outputs whose pass failed alone);
        SourceWithdrawn if its source image was deleted meanwhile."""
        self.on_step("rendered")
        if source is None:
            self.fiddles.save_run(fiddle_hash, runid, outputs, text, output_errors, gpu)
            return
        self._register(source.id, fiddle_hash, runid)
        self.on_step("registered")
        self._check(source, fiddle_hash, runid)
        self.fiddles.store_outputs(fiddle_hash, runid, outputs)
        self.on_step("outputs_stored")
        self._check(source, fiddle_hash, runid)
        self.on_step("checked")
        try:
            self.fiddles.commit_run(fiddle_hash, runid, outputs, text, source, output_errors, gpu)
        except RunWithdrawn:
            self._lose(source, fiddle_hash, runid)
        self.on_step("committed")

    def store_failure(
        self,
        fiddle_hash: str,
        runid: str,
        errors: tuple[tuple[str, ...], str],
        source: SourceRef | None,
    ) -> None:
        """Record a failed run's errors (compile errors, runtime error) for the pages. A run of
        an image registers first, like a stored run, so that deleting the image withdraws the
        record with everything else of the run; if the image went meanwhile, nothing stays."""
        compile_errors, runtime_error = errors
        if source is None:
            self.fiddles.save_failure(fiddle_hash, runid, compile_errors, runtime_error, None)
            return
        self._register(source.id, fiddle_hash, runid)
        try:
            self._check(source, fiddle_hash, runid)
            self.fiddles.save_failure(fiddle_hash, runid, compile_errors, runtime_error, source)
            self._check(source, fiddle_hash, runid)
        except SourceWithdrawn:
            pass  # _lose removed what was written: the failure is still answered, not recorded

    def _check(self, source: SourceRef, fiddle_hash: str, runid: str) -> None:
        if self.fiddles.source_generation(source.id) != source.generation:
            self._lose(source, fiddle_hash, runid)

    def _lose(self, source: SourceRef, fiddle_hash: str, runid: str) -> None:
        self.fiddles.discard_outputs(fiddle_hash, runid)
        self._unregister(source_use_id(source.id, fiddle_hash, runid))
        raise SourceWithdrawn(source.id)

    def _register(self, source_id: int, fiddle_hash: str, runid: str) -> None:
        data = {"source": source_id, "hash": fiddle_hash, "runid": runid}
        try:
            self.documents.create(SOURCE_USES, source_use_id(source_id, fiddle_hash, runid), data)
        except AlreadyExists:
            pass  # an identical run registered it

    def _unregister(self, use_id: str) -> None:
        try:
            self.documents.delete(SOURCE_USES, use_id)
        except DocumentNotFound:
            pass

    # --- the deletion's side ------------------------------------------------------------------

    def users(self, source_id: int) -> list[str]:
        """The hashes of the fiddles with a registered run of the image."""
        return sorted({use.data["hash"] for use in self._uses(source_id)})

    def withdraw_fiddle(self, source_id: int, fiddle_hash: str) -> int | None:
        """Steps d3-d4 and the registrations of d5 for one fiddle (one item of a purge-source
        job); call only once source/<id> is deleted. Every run of the fiddle goes (its options
        name the image, so all of them rendered it), each marker first, then its outputs, and
        the registrations last, so a purge cut short anywhere is finished by doing it again.
        Returns how many runs were withdrawn, or None if no registration is left: done before."""
        uses = self.documents.query(
            SOURCE_USES, where=[("source", "==", source_id), ("hash", "==", fiddle_hash)]
        )
        if not uses:
            return None
        registered = {u.data["runid"] for u in uses if isinstance(u.data.get("runid"), str)}
        runids = registered | set(self.fiddles.stored_runids(fiddle_hash))
        reason = f"source image {source_id} was deleted"
        for runid in sorted(runids):
            self.fiddles.withdraw_run(fiddle_hash, runid, reason)
        for use in uses:
            self._unregister(use.id)
        return len(runids)

    def _uses(self, source_id: int) -> list[Document]:
        return self.documents.query(SOURCE_USES, where=[("source", "==", source_id)])
