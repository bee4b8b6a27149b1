"""What the fiddle page shows of Skia builds: each build the service has or the fiddle ran at, with
the fiddle's outputs there (or the errors of its failed run there), the build the page shows,
and the compare view of two builds.

The builds are the runners' (functions/runner_client.py), and besides them every build the
fiddle has a run or a recorded failure at (a build since removed still has its outputs, which
/ai/<runid>/ serves for good). When no runner answers, the page still shows what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fiddle_protocol import outputs as registry
from fiddle_protocol import versions
from fiddle_protocol.versions import BuildInfo
from functions import output_links
from functions.comparisons import Comparisons, NotCompared
from functions.errors import InvalidInput
from functions.fiddles import StoredDiff, StoredFailure, StoredFiddle, StoredRun
from functions.output_links import ShownOutput
from functions.quotas import ClientKeys
from functions.runner_client import RunnerClient, RunnerUnavailable

UNKNOWN_BUILD = "is not a Skia build of this service or of this fiddle"
COMPARE_TWO = "compare names two builds, as compare=<runid>,<runid> (or compare twice)."


def shown_outputs(digest: str, run: StoredRun) -> list[ShownOutput]:
    """The run's outputs, in the registry's order, each with its URL under /ai/<runid>/."""
    return output_links.shown_outputs(digest, run.runid, run.outputs)


@dataclass(frozen=True)
class BuildRow:
    """One build on the fiddle page, and what the fiddle has there."""

    info: BuildInfo
    available: bool  # the service can run fiddles at it now
    run: StoredRun | None = None
    failure: StoredFailure | None = None
    shown: tuple[ShownOutput, ...] = ()

    @property
    def runid(self) -> str:
        return self.info.runid

    @property
    def label(self) -> str:
        return f"m{self.info.milestone} ({self.info.skia_python})"

    @property
    def status(self) -> str:
        return "outputs" if self.run else "failed" if self.failure else "not run"

    @property
    def raster(self) -> ShownOutput | None:
        return next((s for s in self.shown if s.output is registry.RASTER), None)

    @property
    def error(self) -> str:
        if self.failure is None:
            return ""
        return "\n".join([*self.failure.compile_errors, self.failure.runtime_error]).strip()

    def to_json(self) -> dict[str, object]:
        return {
            "runid": self.runid,
            "version": self.info.skia_python,
            "milestone": self.info.milestone,
            "head": self.info.head,
            "available": self.available,
            "status": self.status,
            "outputs": [
                {"url": shown.url, "label": shown.output.label, "mime": shown.output.mime}
                for shown in self.shown
            ],
            "error": self.error,
        }


def service_builds(runner: RunnerClient) -> list[BuildInfo]:
    """The runners' builds; none when no runner answers (the page shows what is stored)."""
    try:
        return runner.builds()
    except RunnerUnavailable:
        return []


def build_rows(
    digest: str, states: dict[str, StoredRun | StoredFailure], builds: list[BuildInfo]
) -> list[BuildRow]:
    """Every build of the service and every build the fiddle has something at, newest first."""
    available = {build.runid: build for build in builds}
    infos = dict(available)
    for runid in states:
        infos.setdefault(runid, _stored_only(runid))
    rows = []
    for info in versions.newest_first(infos.values()):
        state = states.get(info.runid)
        run = state if isinstance(state, StoredRun) else None
        failure = state if isinstance(state, StoredFailure) else None
        shown = tuple(shown_outputs(digest, run)) if run else ()
        rows.append(BuildRow(info, info.runid in available, run, failure, shown))
    return rows


def _stored_only(runid: str) -> BuildInfo:
    """A build the service no longer has, known only from a runid the fiddle is stored at."""
    released, _, skia_python = runid.rpartition("-")
    return BuildInfo(runid, skia_python or runid, released or runid)


def pick(version: str, rows: list[BuildRow], field_name: str = "version") -> BuildRow:
    """The row a version names: among the service's builds first (HEAD is the service's
    newest), then among builds the fiddle alone still has."""
    available = [row.info for row in rows if row.available]
    for candidates in (available, [row.info for row in rows]):
        try:
            found = versions.resolve(version, candidates)
        except versions.UnknownVersion:
            continue
        return next(row for row in rows if row.runid == found.runid)
    sentence = versions.unknown_sentence(version, available or [row.info for row in rows])
    raise InvalidInput(sentence, {field_name: [UNKNOWN_BUILD]})


def compare_pair(values: list[str]) -> tuple[str, str]:
    """`compare=A,B` or `compare=A&compare=B`."""
    names = [name for value in values for name in value.split(",") if name.strip()]
    if len(names) != 2:
        raise InvalidInput(f"The {COMPARE_TWO}", {"compare": [COMPARE_TWO]})
    return names[0].strip(), names[1].strip()


@dataclass
class CompareView:
    """Two builds' outputs side by side, and the difference of their rasters."""

    left: BuildRow
    right: BuildRow
    diff: StoredDiff | None = None
    diff_url: str = ""
    problem: str = ""  # why there is no difference image
    width: int = 0
    height: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def percent(self) -> str:
        """The share of changed pixels, as a page says it ("2.92", "<0.01", "0")."""
        if self.diff is None or not self.diff.changed:
            return "0"
        share = 100 * self.diff.changed / self.diff.total
        return "<0.01" if share < 0.01 else f"{share:.2f}"


def compare_view(
    fiddle: StoredFiddle,
    rows: list[BuildRow],
    pair: tuple[str, str],
    comparisons: Comparisons,
    client: ClientKeys,
) -> CompareView:
    left, right = (pick(name, rows, "compare") for name in pair)
    if left.runid == right.runid:
        raise InvalidInput(
            "Pick two different builds to compare.", {"compare": ["names one build twice"]}
        )
    view = CompareView(left, right, width=fiddle.options.width, height=fiddle.options.height)
    missing = [row for row in (left, right) if row.raster is None]
    if missing:
        view.problem = " ".join(_no_image(row) for row in missing)
        return view
    try:
        view.diff = comparisons.diff(fiddle, left.runid, right.runid, client)
    except NotCompared as failed:
        view.problem = failed.message
        return view
    older, newer = sorted((left.runid, right.runid))
    view.diff_url = f"/ai/{older}/{fiddle.hash}/diff/{newer}.png"
    return view


def _no_image(row: BuildRow) -> str:
    if row.failure is not None:
        return f"At {row.label} the fiddle failed, so it has no image to compare."
    if row.run is not None:
        return f"At {row.label} the fiddle draws no image (text only)."
    return f"The fiddle has not run at {row.label} yet."
