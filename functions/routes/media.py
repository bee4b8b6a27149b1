"""Outputs by content hash: /i/ (the newest run), /ai/<runid>/ (one particular run), and
/ai/<runid>/<hash>/diff/<runid2>.png (the difference of two runs' rasters, once the fiddle
page's compare view has computed it).

Every answer carries an ETag naming the run, the fiddle and the output (a run's outputs never
change once stored), and a request whose If-None-Match holds it is answered 304 without reading
the output. How long others may keep an answer depends on whether it can be taken back:

- outputs of a fiddle that renders no source image can never be withdrawn: /ai/ is immutable
  for a year, /i/ (whose newest run changes when a new Skia build renders the fiddle) a minute,
  and shared caches (the CDN in front of the functions) may keep them;
- outputs rendered from a source image disappear when an admin deletes that image
  (functions/source_runs.py), so no shared cache may keep them (`private`), and browsers ask
  again each time (`no-cache`, answered 304 while the image is still there).
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request

from fiddle_protocol.checks import pdf_actions
from fiddle_protocol.outputs import DRAW_OUTPUTS, Output, by_suffix
from functions.apidoc import REFERENCE, Answer, documented
from functions.fiddles import FiddleRepository, StoredRun
from functions.responsecache import replayable
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services
from functions.storage.layout import RUNID_RE

blueprint = FiddleBlueprint(
    "media",
    __name__,
    policy=RoutePolicy(
        kind=Kind.OUTPUT,
        target="pages",
        paths=("/i/*", "/ai/*"),
        json_errors=False,
        cors=True,
        framing=Framing.SELF,
        image_paths=("/i/*.png", "/i/*.webm", "/ai/*.png", "/ai/*.webm"),
    ),
)
IMMUTABLE = "public, max-age=31536000, immutable"
BRIEFLY = "public, max-age=60"
WITHDRAWABLE = "private, no-cache"
# How long this process replays an output of one run from memory (functions/responsecache.py):
# it never changes, so only to let the memory go to answers asked for more often.
REPLAY_IMMUTABLE_SECONDS = 3600.0
_SUFFIXES = [output.suffix for output in DRAW_OUTPUTS]
_SUFFIX_PATTERN = "|".join(suffix.replace(".", "\\.") for suffix in _SUFFIXES)
FILENAME = (
    "A fiddle's hash or @name, then the output's suffix: " + ", ".join(_SUFFIXES) + ".",
    {"type": "string",
     "pattern": f"^(?:[0-9a-f]{{32}}|@[0-9A-Za-z_]{{1,128}})(?:{_SUFFIX_PATTERN})$"},
)  # fmt: skip
RUNID = (
    "A run of the fiddle (see runid in /e/).",
    {"type": "string", "pattern": f"^{RUNID_RE.pattern}$"},
)
_HEADERS = ("ETag", "Cache-Control")


def _output_answers() -> tuple[Answer, ...]:
    """The output's bytes (of the type its suffix names), or 304 for a client that has it."""
    types = sorted({output.mime for output in DRAW_OUTPUTS})
    return (
        *(Answer(200, "The output.", media_type=kind, headers=_HEADERS) for kind in types),
        Answer(304, "The client's copy (If-None-Match) is this output.", media_type="",
               headers=_HEADERS),
        *(Answer(206, "The bytes of the Range asked for (videos are seeked so).",
                 media_type=kind, headers=_HEADERS) for kind in types),
    )  # fmt: skip


@blueprint.get("/i/<path:filename>")
@documented(
    "An output of the fiddle's newest run",
    *_output_answers(),
    errors=(404,),
    path={"filename": FILENAME},
)
def newest_output(filename: str) -> Any:
    """An output of the fiddle's newest run, named by its URL suffix (see "Outputs"); cached for
    a minute, as a new Skia build may render the fiddle again."""
    reference, output = _split_or_404(filename)
    fiddles = services().fiddles
    digest, newest = fiddles.lookup(reference, fiddles.newest_run) or abort(404)
    # The newest run can change when a new Skia build renders the fiddle: cache only briefly.
    # Replayed for as long as this process trusts the fiddle's list of runs.
    replay = fiddles.run_list_seconds if _by_hash(reference) else 0.0
    return _send(fiddles, digest, newest, output, BRIEFLY, replay)


@blueprint.get("/ai/<runid>/<path:filename>")
@documented(
    "An output of one run of the fiddle (it never changes)",
    *_output_answers(),
    errors=(404,),
    path={"filename": FILENAME, "runid": RUNID},
)
def run_output(runid: str, filename: str) -> Any:
    """An output of one run (one Skia build, named by its runid); cached for good when the
    fiddle is named by its hash."""
    reference, output = _split_or_404(filename)
    fiddles = services().fiddles
    digest, run = fiddles.lookup(reference, lambda found: fiddles.run(found, runid)) or abort(404)
    # A run's outputs never change once stored (a hash in either form always means one
    # fiddle); a name can be moved to another fiddle.
    lasting, replay = (IMMUTABLE, REPLAY_IMMUTABLE_SECONDS) if _by_hash(reference) else (BRIEFLY, 0)
    return _send(fiddles, digest, run, output, lasting, replay)


@blueprint.get("/ai/<runid>/<reference>/diff/<other>.png")
@documented(
    "The difference of the rasters of two builds' runs, once the compare view has made it",
    Answer(200, "The difference as a PNG.", media_type="image/png"),
    errors=(404,),
    path={"reference": REFERENCE, "runid": RUNID, "other": RUNID},
)
def diff_image(runid: str, reference: str, other: str) -> Any:
    """Stored under the older run: the address names that one first."""
    if other <= runid:
        abort(404)
    fiddles = services().fiddles
    found = fiddles.lookup(reference, lambda digest: fiddles.diff(digest, runid, other))
    if found is None:
        abort(404)
    lasting = IMMUTABLE if _by_hash(reference) else BRIEFLY
    response = Response(found[1].data, content_type="image/png")
    response.headers["Cache-Control"] = _cache_control(found[1].source, lasting)
    return response


def _split_or_404(filename: str) -> tuple[str, Output]:
    parts = by_suffix(filename)
    if parts is None or "/" in filename:
        abort(404)
    return parts


def _by_hash(reference: str) -> bool:
    """A fiddle named by a hash (either form) always means one fiddle; a name can move."""
    return not reference.startswith("@")


def _send(
    fiddles: FiddleRepository,
    digest: str,
    run: StoredRun,
    output: Output,
    lasting: str,
    replay: float,
) -> Response:
    """The output, 304 for a client that has it; replayed for `replay` seconds from memory
    (0: never) unless it can be withdrawn."""
    if output.stored not in run.outputs:
        abort(404)
    etag = f"{run.runid}/{digest}/{output.stored}"
    cache_control = _cache_control(run.source, lasting)
    if request.if_none_match.contains_weak(etag):
        return _headers(Response(status=304), etag, cache_control)
    data = fiddles.run_output(digest, run, output.stored)
    if data is None:
        abort(404)
    # content_type, not mimetype: Werkzeug adds a charset to a text mimetype, which ours has.
    response = _headers(Response(data, content_type=output.mime), etag, cache_control)
    # Byte ranges (206): a browser seeks in a video only when its server answers them. Worked out
    # only for a request that asks for a range (it cost every image GET a tenth of its rate).
    response.accept_ranges = "bytes"
    if request.range is not None:
        response.make_conditional(request, accept_ranges=True, complete_length=len(data))
    if output.mime == "application/pdf" and pdf_actions(data):
        # Chromium's PDF viewer runs a PDF's JavaScript whatever the response's CSP says (even
        # `sandbox`); only a download keeps it from running. The runner refuses such PDFs, so
        # only one stored before it did can get here.
        response.headers["Content-Disposition"] = 'attachment; filename="fiddle.pdf"'
    if replay and not run.source:
        replayable(replay, digest)
    return response


def _cache_control(source: int, lasting: str) -> str:
    """What rendered a source image is withdrawn when an admin deletes the image: no shared
    cache may keep it, whatever it would otherwise be kept for."""
    return WITHDRAWABLE if source else lasting


def _headers(response: Response, etag: str, cache_control: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response
