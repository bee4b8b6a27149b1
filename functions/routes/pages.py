"""The fiddle page (/c/), its embeddable forms (/iframe/: the result; /iframe/?code=1: the code
in a compact editor with Run above it), its JSON (/e/), its results alone (/e/<hash>/results)
and the front page.

`/` and `/c/<hash>` render the same editor page (templates/fiddle.html): server-rendered code,
options and outputs that work with JavaScript off, which site/src/ then turns into the editor.
The page's script talks only to the API endpoints, at the address in the `fiddle-api` meta tag
(`Settings.api_base`; empty means the same origin). After a run it shows the results area
exactly as the server renders it (templates/_results.html, through /e/<hash>/results), so the
results have one rendering.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import abort, current_app, jsonify, render_template, request

from fiddle_protocol import outputs as registry
from fiddle_protocol.options import FiddleOptions
from functions import output_links
from functions.api_schemas import FiddleJsonSchema
from functions.apidoc import REFERENCE, Answer, Query, documented, page
from functions.buildviews import (
    BuildRow,
    CompareView,
    build_rows,
    compare_pair,
    compare_view,
    pick,
    service_builds,
    shown_outputs,
)
from functions.bundles import missing_bundles
from functions.clients import client_keys
from functions.errors import InvalidInput
from functions.fiddles import StoredFailure, StoredFiddle, StoredRun
from functions.jobs.named_status import NamedStatus
from functions.links import public_base_url
from functions.output_links import ShownOutput
from functions.responsecache import replayable
from functions.routing import Csp, FiddleBlueprint, Framing, Kind, RoutePolicy
from functions.services import services
from functions.sources import SOURCES

# The editor page; / too, which the load balancer leaves to the static site.
blueprint = FiddleBlueprint(
    "pages",
    __name__,
    policy=RoutePolicy(
        kind=Kind.PAGE,
        target="pages",
        paths=("/c/*",),
        json_errors=False,
        cors=False,
        framing=Framing.DENY,
    ),
)
embed_blueprint = FiddleBlueprint(
    "embed",
    __name__,
    policy=RoutePolicy(
        kind=Kind.EMBED,
        target="pages",
        paths=("/iframe/*",),
        json_errors=False,
        cors=False,
        framing=Framing.ANY,
        csp=Csp.EMBED,
    ),
)
# No routes: Flask's static route serves the interactive embed's script (the site bucket does
# behind the load balancer). Other sites load it with <script type="module">, which browsers
# fetch with CORS; it is a public file, and nobody's cookies are involved.
embed_script_blueprint = FiddleBlueprint(
    "embed_script",
    __name__,
    policy=RoutePolicy(
        kind=Kind.ASSET,
        target="pages",
        paths=("/static/dist/embed.js", "/static/dist/embed.js.map"),
        json_errors=False,
        cors=True,
        framing=Framing.DENY,
        routed=False,
    ),
)
# The fiddle as JSON, and its results area as the editor's script shows it.
json_blueprint = FiddleBlueprint(
    "fiddle_json",
    __name__,
    policy=RoutePolicy(
        kind=Kind.API,
        target="pages",
        paths=("/e/*",),
        json_errors=True,
        cors=True,
        framing=Framing.DENY,
    ),
)
# The outputs drawn on the GPU: a drawn run without any of them had no GPU.
GPU_OUTPUTS = frozenset(
    output.stored for output in registry.DRAW_OUTPUTS if output.name in ("gpu", "gpu_animation")
)
SOURCE_REMOVED = "The source image of this fiddle was removed, and its outputs with it."
# Where a GPU output would be shown, on a run whose runner had no GPU (with its reason).
NO_GPU = "No GPU on this runner"
# The offscreen target got fewer MSAA samples than asked for: the GPU supports no more.
FEWER_SAMPLES = (
    "The offscreen target has {had} MSAA samples on the GPU, not the {asked} asked for: "
    "this runner's GPU supports at most {had}."
)
# The iframe's `code` parameter: whether the embed shows the code in an editor with Run.
IFRAME_CODE_FLAGS = {"0": False, "1": True}
# Where a traceback of the user's program names a line of it.
USER_LINE = re.compile(r'File "draw\.py", line (\d+)')
IFRAME_CODE_REFUSED = (
    "The code parameter is 1 (the code in an editor with Run) or 0 (the result only)."
)
# The program a new fiddle starts with.
DEFAULT_CODE = """import skia

def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorRED, StrokeWidth=10,
                       Style=skia.Paint.kStroke_Style)
    canvas.drawLine(20, 20, 100, 100, paint)
"""


@dataclass(frozen=True)
class FailedOutput:
    """An output of the shown run whose pass failed alone: the registry's entry and the
    traceback of what the program raised in that pass. The results area shows it where the
    output would be."""

    output: registry.Output
    error: str

    @property
    def line(self) -> int | None:
        """The line of draw.py the traceback ends in (its last frame in the user's code)."""
        lines = USER_LINE.findall(self.error)
        return int(lines[-1]) if lines else None


@dataclass
class FiddleView:
    reference: str
    fiddle: StoredFiddle
    run: StoredRun | None
    # The run's outputs in the registry's order: what the results area and /e/ JSON list.
    shown: list[ShownOutput] = field(default_factory=list)
    # The run's outputs whose pass failed alone, in the registry's order.
    failed: list[FailedOutput] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # The fiddle names a source image that an admin has since deleted.
    source_removed: bool = False
    # Every build of the service or of the fiddle (buildviews.py), newest first; the one shown
    # (the newest run's, or the one `?version=` asked for); its failure when it has no run.
    builds: list[BuildRow] = field(default_factory=list)
    selected: BuildRow | None = None
    failure: StoredFailure | None = None
    compare: CompareView | None = None
    # For @name: how the name ran at the newest build a rerun-named job checked.
    named_status: NamedStatus | None = None

    @property
    def no_gpu(self) -> str:
        """Why the shown run has no GPU output where it would have one ("" when it has one, or
        needs none): the results area says so where the GPU image would be."""
        run, options = self.run, self.fiddle.options
        if run is None or options.text_only or GPU_OUTPUTS & set(run.outputs):
            return ""
        reason = run.gpu.reason if run.gpu is not None else ""
        return f"{NO_GPU}: {reason}." if reason else f"{NO_GPU}."

    @property
    def frames(self) -> int:
        """The frames of an animated fiddle's videos (60 a second, and frame 0)."""
        options = self.fiddle.options
        return int(60 * options.duration) + 1 if options.animated else 0

    @property
    def main_text(self) -> bool:
        """A text-only fiddle: its printed text is the result, shown first and in full."""
        return self.fiddle.options.text_only

    @property
    def urls(self) -> dict[str, str]:
        """Stored output name -> its URL (the /e/ JSON's `outputs`)."""
        return output_links.urls(self.shown)

    @property
    def entries(self) -> list[ShownOutput | FailedOutput]:
        """Every output of the run, shown or failed, in the registry's order."""
        order = {output.name: index for index, output in enumerate(registry.DRAW_OUTPUTS)}
        both: list[ShownOutput | FailedOutput] = [*self.shown, *self.failed]
        return sorted(both, key=lambda entry: order.get(entry.output.name, len(order)))

    def to_json(self, source_ids: list[int]) -> dict[str, Any]:
        """The fiddle as JSON: every field of Skia Fiddle's FiddleContext with its type (so
        Skia's fiddle-embed-sk reads it), then this service's own."""
        return {**self._skia_context(source_ids), **self._own_fields()}

    def _skia_context(self, source_ids: list[int]) -> dict[str, Any]:
        # `sources` is a string holding a JSON array, as Skia sends it; Skia's components read
        # the hash from `fiddlehash` only, and Go reads either spelling of the key.
        return {
            "version": self.run.runid.rsplit("-", 1)[-1] if self.run else "",
            "sources": json.dumps(source_ids, separators=(",", ":")),
            "fiddlehash": self.fiddle.hash,
            "code": self.fiddle.code,
            "name": self.reference[1:] if self.reference.startswith("@") else "",
            "overwrite": False,
            "fast": False,
            "options": self.fiddle.options.to_json(),
        }

    def _own_fields(self) -> dict[str, Any]:
        return {
            "fiddleHash": self.fiddle.hash,
            "runid": self.run.runid if self.run else None,
            "text": self.run.text if self.run else "",
            "outputs": self.urls,
            "outputList": [shown.to_json() for shown in self.shown],
            "outputErrors": {failed.output.name: failed.error for failed in self.failed},
            "notices": self.notices,
            "sourceRemoved": self.source_removed,
            "gpu": self.run.gpu.to_json() if self.run and self.run.gpu else None,
            "builds": [row.to_json() for row in self.builds],
            "namedStatus": self.named_status.to_json() if self.named_status else None,
        }


def load_view(reference: str, version: str | None = None) -> FiddleView:
    """The fiddle with its newest run, or with its run at the build `version` names (a 400
    naming the builds there are when none is)."""
    built = services()
    digest, fiddle = built.fiddles.lookup(reference, built.fiddles.load) or abort(404)
    states = built.fiddles.build_states(digest)
    rows = build_rows(digest, states, service_builds(built.runner))
    view = FiddleView(reference, fiddle, None, builds=rows)
    if reference.startswith("@"):
        view.named_status = built.named_status.get(reference[1:], digest)
    if version:
        view.selected = pick(version, rows)
        view.run, view.failure = view.selected.run, view.selected.failure
    else:
        view.run = built.fiddles.newest_run(digest)
        shown = view.run.runid if view.run else None
        view.selected = next((row for row in rows if row.runid == shown), None)
    if view.run:
        view.shown = shown_outputs(digest, view.run)
        view.failed = _failed_outputs(view.run)
    source = fiddle.options.source
    view.source_removed = bool(source) and not built.fiddles.source_exists(source)
    view.notices = _notices(fiddle, view.run, view.source_removed)
    return view


VERSION_QUERY = Query(
    "version",
    "A build (HEAD, m87, 87.9 or a runid): that build's run instead of the newest.",
    {"type": "string", "maxLength": 64},
)
COMPARE_QUERY = Query(
    "compare",
    "Two builds, A,B: their outputs side by side and the difference of their rasters.",
    {"type": "string", "maxLength": 130},
)


def _version_argument() -> str | None:
    """`?version=`: HEAD, m87, 87.9 or a runid; absent or empty: the newest run."""
    value = request.args.get("version", "").strip()
    return value or None


def _failed_outputs(run: StoredRun) -> list[FailedOutput]:
    return [
        FailedOutput(output, run.output_errors[output.name])
        for output in registry.DRAW_OUTPUTS
        if output.name in run.output_errors and output.stored not in run.outputs
    ]


def _notices(fiddle: StoredFiddle, run: StoredRun | None, source_removed: bool) -> list[str]:
    notices = []
    fewer = _fewer_samples(fiddle.options, run)
    if fewer:
        notices.append(fewer)
    if source_removed:
        notices.append(SOURCE_REMOVED)
    return notices


def _fewer_samples(options: FiddleOptions, run: StoredRun | None) -> str:
    """Said when the GPU's offscreen target could not have the samples asked for."""
    gpu = run.gpu if run else None
    if not options.offscreen or gpu is None or not gpu.available or options.text_only:
        return ""
    if options.offscreen_sample_count <= gpu.max_samples:
        return ""
    return FEWER_SAMPLES.format(had=gpu.max_samples, asked=options.offscreen_sample_count)


@blueprint.app_context_processor
def _page_settings() -> dict[str, Any]:
    # Where the pages' JavaScript finds the JSON API; empty means the same origin.
    # A bundle that is not built is named on the pages that need it (functions/bundles.py).
    return {
        "api_base": services().settings.api_base,
        "missing_bundles": missing_bundles(Path(str(current_app.static_folder))),
    }


@blueprint.get("/")
@documented("The editor with a new fiddle", page("The editor page."))
def index() -> Any:
    """The editor with a new fiddle (behind the load balancer, the static site's own copy)."""
    all_builds = build_rows("", {}, service_builds(services().runner))
    return render_template(
        "index.html",
        view=None,
        code=DEFAULT_CODE,
        options=FiddleOptions(),
        base_url=_base_url(),
        all_builds=all_builds,
    )


@blueprint.get("/c/<reference>")
@documented(
    "A fiddle in the editor: its code, options and newest outputs",
    page("The editor page."),
    errors=(400, 404),
    path={"reference": REFERENCE},
    query=(VERSION_QUERY, COMPARE_QUERY),
)
def fiddle_page(reference: str) -> Any:
    """The fiddle page: the editor with the fiddle's code, options and the outputs of its newest
    run, rendered on the server so that it works without JavaScript. `?version=` shows its
    outputs at one build, `?compare=A,B` (or `compare` twice) two builds side by side with the
    difference of their rasters."""
    view = load_view(reference, _version_argument())
    pair = request.args.getlist("compare")
    if pair:
        view.compare = compare_view(
            view.fiddle, view.builds, compare_pair(pair), services().comparisons, client_keys()
        )
    return render_template(
        "fiddle.html",
        view=view,
        code=view.fiddle.code,
        options=view.fiddle.options,
        source_removed=view.source_removed,
        base_url=_base_url(),
        all_builds=view.builds,
    )


@embed_blueprint.get("/iframe/<reference>")
@documented(
    "A fiddle's result for other sites' iframes",
    page("The result alone (with ?code=1, the code in a compact editor above it)."),
    errors=(400, 404),
    path={"reference": REFERENCE},
    query=(
        Query(
            "code",
            "1: the code in an editor with Run above the result.",
            {"type": "string", "enum": list(IFRAME_CODE_FLAGS)},
        ),
    ),
)
def iframe_page(reference: str) -> Any:
    """The result alone, for other sites to frame; with `?code=1` the code above it in a compact
    editor with Run (the <fiddle-embed> element of site/src/embed.js, over the same markup
    rendered here for browsers without JavaScript)."""
    interactive = _iframe_code_flag(request.args.get("code", "0"))
    view = load_view(reference, _version_argument())
    return render_template("iframe.html", view=view, interactive=interactive)


def _iframe_code_flag(value: str) -> bool:
    if value not in IFRAME_CODE_FLAGS:
        raise InvalidInput(IFRAME_CODE_REFUSED)
    return IFRAME_CODE_FLAGS[value]


@json_blueprint.get("/e/<reference>")
@documented(
    "A fiddle as JSON",
    Answer(200, "The code, options, newest run and its outputs' URLs.", FiddleJsonSchema),
    errors=(400, 404),
    path={"reference": REFERENCE},
    query=(VERSION_QUERY,),
)
def fiddle_json(reference: str) -> Any:
    """The fiddle as JSON: every field of Skia's FiddleContext (`version`, `sources`,
    `fiddlehash`, `code`, `name`, `overwrite`, `fast`, `options`), then this service's own:
    `fiddleHash`, `runid`, `text`, `outputs` (stored name -> URL), `outputList` (each output
    with its `name`, `stored`, `url`, `label`, `title`, `kind`, `mime`, `suffix`),
    `outputErrors`, `notices`, `sourceRemoved` and `builds`; `?version=` picks the build."""
    view = load_view(reference, _version_argument())
    built = services()
    response = jsonify(view.to_json(built.sources.ids()))
    # Kept as long as the fiddle's list of runs is; what can change it in this process purges
    # it (a run or failure stored, an image uploaded). A fiddle of a source image shows at once
    # that the image was deleted, so it is not kept.
    if not reference.startswith("@") and not view.fiddle.options.source:
        replayable(built.fiddles.run_list_seconds, view.fiddle.hash, SOURCES)
    return response


@json_blueprint.get("/e/<reference>/results")
@documented(
    "A fiddle's results area (an HTML fragment), as the editor shows it after a run",
    page("The results markup."),
    errors=(400, 404),
    path={"reference": REFERENCE},
    query=(VERSION_QUERY,),
)
def fiddle_results(reference: str) -> Any:
    """The editor page's results area alone (an HTML fragment), which the editor's script shows
    after a run (at the build of `?version=`, if given); like /e/<hash>, any origin may read
    it."""
    return render_template("results.html", view=load_view(reference, _version_argument()))


def _base_url() -> str:
    """This site's own address, for the copyable link and embed snippet: FIDDLE_PUBLIC_URL, so
    that a forged Host header cannot put another site's address into them."""
    return public_base_url()
