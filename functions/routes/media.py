"""Outputs by content hash: /i/ (the newest run) and /ai/<runid>/ (one particular run)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort

from fiddle_protocol.checks import pdf_actions
from fiddle_protocol.outputs import Output, by_suffix
from functions.routing import FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services

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


@blueprint.get("/i/<path:filename>")
def newest_output(filename: str) -> Any:
    """An output of the fiddle's newest run, named by its URL suffix (see "Outputs"); cached for
    a minute, as a new Skia build may render the fiddle again."""
    reference, output = _split_or_404(filename)
    fiddles = services().fiddles
    digest, newest = fiddles.lookup(reference, fiddles.newest_run) or abort(404)
    # The newest run can change when a new Skia build renders the fiddle: cache only briefly.
    data = fiddles.run_output(digest, newest, output.stored)
    return _send(data, output, "public, max-age=60")


@blueprint.get("/ai/<runid>/<path:filename>")
def run_output(runid: str, filename: str) -> Any:
    """An output of one run (one Skia build, named by its runid); cached for good when the
    fiddle is named by its hash."""
    reference, output = _split_or_404(filename)
    fiddles = services().fiddles
    found = fiddles.lookup(reference, lambda digest: fiddles.output(digest, runid, output.stored))
    # A run's outputs never change once stored (a hash in either form always means one fiddle).
    cache = (
        "public, max-age=31536000, immutable"
        if not reference.startswith("@")
        else "public, max-age=60"
    )
    return _send(found[1] if found else None, output, cache)


def _split_or_404(filename: str) -> tuple[str, Output]:
    parts = by_suffix(filename)
    if parts is None or "/" in filename:
        abort(404)
    return parts


def _send(data: bytes | None, output: Output, cache_control: str) -> Response:
    if data is None:
        abort(404)
    # content_type, not mimetype: Werkzeug adds a charset to a text mimetype, which ours has.
    response = Response(data, content_type=output.mime)
    response.headers["Cache-Control"] = cache_control
    if output.mime == "application/pdf" and pdf_actions(data):
        # Chromium's PDF viewer runs a PDF's JavaScript whatever the response's CSP says (even
        # `sandbox`); only a download keeps it from running. The runner refuses such PDFs, so
        # only one stored before it did can get here.
        response.headers["Content-Disposition"] = 'attachment; filename="fiddle.pdf"'
    return response
