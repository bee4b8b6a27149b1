"""Dispatching a run: validate the request, answer from storage when possible, else send it to a
runner that has the build asked for and store the result, within what one client may take
(functions/quotas.py).

Fiddles are stored under their canonical (fiddle 1.0) hash; the answer's `fiddleHash` is in the
form the operator chose (FIDDLE_HASH), and both forms lead to the fiddle (functions/fiddles.py).
The hash does not depend on the build: one fiddle has a run (or a recorded failure) per build.

`version` names one build (fiddle_protocol/versions.py: HEAD by default, m87, 87.9, a runid) and
the answer is the one Skia's clients know. `versions` ("all", or a list) runs the fiddle at
several builds at once and answers `{"fiddleHash", "runs": [...]}`, one entry per build, newest
first: the build's `version`, `runid`, `milestone` and `head`, then either the run's
`compile_errors`, `runtime_error`, `text` and `cached`, or `error`, a sentence saying why that
build has no answer now (a busy runner, the per-run cap, the hourly quota). If no build has an
answer, the request is refused as a single run would be.
"""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fiddle_protocol import versions
from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from fiddle_protocol.versions import BuildInfo
from functions import errors
from functions.fiddles import FiddleRepository, SourceRef, StoredFiddle, StoredRun
from functions.hashing import FIDDLE1, fiddle_hash, hash_in_form
from functions.output_links import shown_outputs, urls
from functions.quotas import ClientKeys, ClientLimits, check_run_size
from functions.runner_client import BuildGone, RunnerBusy, RunnerClient, RunnerUnavailable
from functions.schemas import ALL_VERSIONS, InvalidRequest, RunRequestData, parse_run_request
from functions.source_runs import SourceRuns

UNKNOWN_VERSION = "is not an available Skia version"


def _doc(text: str) -> dict[str, str]:
    """A field's meaning, for docs/http-api.md (python -m functions.docs)."""
    return {"doc": text}


@dataclass
class RunAnswer:
    """The body of a `POST /_/run` answer."""

    fiddle_hash: str = field(
        metadata=_doc(
            "The fiddle's hash, in the form FIDDLE_HASH chooses (docs/configuration.md); either"
            " form reaches the fiddle."
        )
    )
    runid: str = field(
        metadata=_doc(
            "The run's id: the Skia build's release time and version, which names its outputs"
            " under `/ai/<runid>/`."
        )
    )
    version: str = field(metadata=_doc("The skia-python version the run used."))
    compile_errors: list[dict[str, Any]] = field(
        default_factory=list,
        metadata=_doc(
            "`[{text, line, col}]`, the text as a compiler prints it: `draw.py:LINE:COL: error:"
            " MESSAGE`."
        ),
    )
    runtime_error: str = field(
        default="",
        metadata=_doc(
            "The traceback of the program's own lines, or the sentence of the limit that"
            " stopped it; empty when the run succeeded."
        ),
    )
    text: str = field(default="", metadata=_doc("What the program printed."))
    cached: bool = field(
        default=False, metadata=_doc("True when the answer came from storage: nothing ran.")
    )
    output_errors: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            "Output name -> the traceback of its pass, for each output pass that failed alone"
            " (the run succeeded without that output)."
        ),
    )
    outputs: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "The stored names of the run's outputs; the answer lists each with its URL"
            " (`outputs`: stored name -> URL, and `outputList` as /e/<hash> has it)."
        ),
    )
    gpu: GpuStatus | None = field(
        default=None,
        metadata=_doc(
            "The runner's GPU (`available`, `renderer`, `version`...), or why it had none; null"
            " for runs stored before runners said."
        ),
    )

    def to_json(self) -> dict[str, Any]:
        """Skia Fiddle's fields, then every output with its URL (`outputs`: stored name -> URL,
        and `outputList` as /e/<hash> has it) and the runner's GPU."""
        shown = shown_outputs(self.fiddle_hash, self.runid, self.outputs)
        return {
            "fiddleHash": self.fiddle_hash,
            "compile_errors": self.compile_errors,
            "runtime_error": self.runtime_error,
            "output_errors": self.output_errors,
            "text": self.text,
            "version": self.version,
            "runid": self.runid,
            "cached": self.cached,
            "outputs": urls(shown),
            "outputList": [item.to_json() for item in shown],
            "gpu": self.gpu.to_json() if self.gpu else None,
        }


EVERY_RUNNER_BUSY = "Every runner is busy; try again shortly."
NO_RUNNER = "No runner is available right now; try again shortly."


@dataclass
class BuildRunAnswer:
    """One build's part of a run at several builds: its run's answer, or why it has none."""

    build: BuildInfo
    answer: RunAnswer | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        build = self.build
        named = {
            "version": build.skia_python,
            "runid": build.runid,
            "milestone": build.milestone,
            "head": build.head,
        }
        if self.answer is None:
            return {**named, "error": self.error}
        own = self.answer.to_json()
        fields = (
            "compile_errors", "runtime_error", "text", "cached", "output_errors", "outputList",
            "gpu",
        )  # fmt: skip
        return {**named, **{key: own[key] for key in fields}}


@dataclass
class SeveralAnswer:
    """The body of a `POST /_/run` answer with `versions`: one entry per build, newest first."""

    fiddle_hash: str
    runs: list[BuildRunAnswer]

    def to_json(self) -> dict[str, Any]:
        return {"fiddleHash": self.fiddle_hash, "runs": [run.to_json() for run in self.runs]}


class RunDispatcher:
    """Answers run requests (of `POST /_/run`, the examples, and later jobs)."""

    def __init__(
        self,
        fiddles: FiddleRepository,
        runner: RunnerClient,
        source_runs: SourceRuns,
        limits: ClientLimits,
        hash_form: str = FIDDLE1,
    ) -> None:
        self.fiddles = fiddles
        self.runner = runner
        self.source_runs = source_runs
        self.limits = limits
        self.hash_form = hash_form

    def run(self, payload: object, client: ClientKeys = ()) -> RunAnswer | SeveralAnswer:
        """Answer a run request from `client` (no keys: the service itself, under no limits).
        Raises errors.FiddleError subclasses for everything it declines."""
        try:
            return self._answer(payload, client)
        except RunnerBusy as busy:
            raise errors.Busy(EVERY_RUNNER_BUSY, retry_after=busy.retry_after) from busy
        except RunnerUnavailable as down:
            raise errors.Unavailable(NO_RUNNER, retry_after=down.retry_after) from down

    def run_stored(self, fiddle: StoredFiddle, version: str) -> RunAnswer:
        """A stored fiddle at the build `version` names, for the service itself (jobs): from
        storage when it has a run there, else run and stored. Raises as run() does."""
        data = RunRequestData(fiddle.code, fiddle.options, version, fast=False)
        try:
            return self._answer_one(fiddle.hash, data, ())
        except RunnerBusy as busy:
            raise errors.Busy(EVERY_RUNNER_BUSY, retry_after=busy.retry_after) from busy
        except RunnerUnavailable as down:
            raise errors.Unavailable(NO_RUNNER, retry_after=down.retry_after) from down

    def _answer(self, payload: object, client: ClientKeys) -> RunAnswer | SeveralAnswer:
        data = parse_run_request(payload)
        self._check_source(data)
        digest = fiddle_hash(data.code, data.options)
        shown = self._shown_hash(data)
        if data.versions is not None:
            several = self._answer_several(digest, data, client)
            return dataclasses.replace(several, fiddle_hash=shown)
        answer = self._answer_one(digest, data, client)
        return dataclasses.replace(answer, fiddle_hash=shown)

    def _answer_one(self, digest: str, data: RunRequestData, client: ClientKeys) -> RunAnswer:
        if data.fast and data.version is None:
            stored = self._newest_stored(digest)
            if stored:
                return stored
        build = self.build_named(data.version or versions.HEAD)
        existing = self.fiddles.run(digest, build.runid) if self.fiddles.load(digest) else None
        if existing:
            return _from_storage(digest, existing, build.skia_python)
        return self._run_and_store(digest, data, build, client)

    def _shown_hash(self, data: RunRequestData) -> str:
        return hash_in_form(data.code, data.options, self.hash_form)

    def _check_source(self, data: RunRequestData) -> None:
        source = data.options.source
        if source and not self.fiddles.source_exists(source):
            raise _no_source(source)

    # --- builds -------------------------------------------------------------------------------

    def build_named(self, version: str) -> BuildInfo:
        """The build a version names (HEAD, m87, 87.9, a runid) among every runner's; a 400
        naming the versions there are when none is."""
        try:
            return versions.resolve(version, self.runner.builds())
        except versions.UnknownVersion as unknown:
            raise InvalidRequest(str(unknown), {"version": [UNKNOWN_VERSION]}) from unknown

    def _builds_named(self, named: tuple[str, ...]) -> list[BuildInfo]:
        """The builds of `versions` ("all": every one), each once, newest first."""
        builds = self.runner.builds()
        if named == (ALL_VERSIONS,):
            return versions.newest_first(builds)
        found: dict[str, BuildInfo] = {}
        for version in named:
            try:
                build = versions.resolve(version, builds)
            except versions.UnknownVersion as unknown:
                raise InvalidRequest(str(unknown), {"versions": [UNKNOWN_VERSION]}) from unknown
            found[build.runid] = build
        return versions.newest_first(found.values())

    def _newest_stored(self, digest: str) -> RunAnswer | None:
        newest = self.fiddles.newest_run(digest)
        if newest is None:
            return None
        return _from_storage(digest, newest, newest.runid.rsplit("-", 1)[-1])

    # --- one build ----------------------------------------------------------------------------

    def _run_and_store(
        self, digest: str, data: RunRequestData, build: BuildInfo, client: ClientKeys
    ) -> RunAnswer:
        # Code is kept even when it fails to compile, as Skia Fiddle does; outputs only on success.
        source, source_png = self._source_image(data)
        self.limits.quota.check_room(client)
        with self.limits.fair_share.slot(client):
            result = self._run_at(build, data, source_png)
        self._charge(client, data, result)
        # The code and its alias before the run: a stored run always has both.
        self.fiddles.save_code(digest, data.code, data.options)
        self._store(digest, result, source)
        return _from_result(digest, result, build.skia_python)

    def _run_at(
        self, build: BuildInfo, data: RunRequestData, source_png: bytes | None
    ) -> RunResult:
        """The run at the build. A runner that no longer has it (removed, decimated) sends the
        functions to read the builds again: the version then names another, or none (400)."""
        request = RunRequest(
            str(uuid.uuid4()), data.code, _rendered_options(data.options), source_png,
            build=build.runid,
        )  # fmt: skip
        try:
            return self.runner.run(request)
        except BuildGone:
            self.runner.forget_builds()
            again = self.build_named(build.runid)  # 400 if it is gone everywhere
            return self.runner.run(dataclasses.replace(request, build=again.runid))

    def _store(self, digest: str, result: RunResult, source: SourceRef | None) -> None:
        if result.succeeded:
            self.source_runs.store(
                digest, result.runid, result.outputs, result.text, source, result.output_errors,
                result.gpu,
            )  # fmt: skip
        else:
            texts = tuple(error.text for error in result.compile_errors)
            errors = (texts, result.runtime_error)
            self.source_runs.store_failure(digest, result.runid, errors, source)

    # --- several builds -----------------------------------------------------------------------

    def _answer_several(
        self, digest: str, data: RunRequestData, client: ClientKeys
    ) -> SeveralAnswer:
        """The fiddle at every build `versions` names: from storage where it has run there, the
        others run at once, as many at a time as the client may have runs in flight."""
        builds = self._builds_named(data.versions or ())
        stored = self.fiddles.load(digest) is not None
        answers = {build.runid: BuildRunAnswer(build) for build in builds}
        for build in builds:
            existing = self.fiddles.run(digest, build.runid) if stored else None
            if existing:
                answers[build.runid].answer = _from_storage(digest, existing, build.skia_python)
        to_run = [build for build in builds if answers[build.runid].answer is None]
        if to_run:
            self._run_several(digest, data, to_run, answers, client)
        return SeveralAnswer(digest, list(answers.values()))

    def _run_several(
        self,
        digest: str,
        data: RunRequestData,
        builds: list[BuildInfo],
        answers: dict[str, BuildRunAnswer],
        client: ClientKeys,
    ) -> None:
        source, source_png = self._source_image(data)
        self.limits.quota.check_room(client)
        with self.limits.fair_share.slots(client, len(builds)) as at_once:
            outcomes = self._run_each(builds, data, source_png, at_once)
        refusals = [outcome for outcome in outcomes if isinstance(outcome, errors.FiddleError)]
        if len(refusals) == len(answers):  # nothing to answer with: refuse as one run would
            raise refusals[0]
        self.fiddles.save_code(digest, data.code, data.options)
        for build, outcome in zip(builds, outcomes, strict=True):
            try:
                if isinstance(outcome, errors.FiddleError):
                    raise outcome
                self._charge(client, data, outcome)
                self._store(digest, outcome, source)
                answers[build.runid].answer = _from_result(digest, outcome, build.skia_python)
            except errors.FiddleError as refused:
                answers[build.runid].error = refused.message

    def _run_each(
        self, builds: list[BuildInfo], data: RunRequestData, source_png: bytes | None, at_once: int
    ) -> list[RunResult | errors.FiddleError]:
        def one(build: BuildInfo) -> RunResult | errors.FiddleError:
            try:
                return self._run_at(build, data, source_png)
            except InvalidRequest:
                return errors.Unavailable(f"Skia build {build.runid} is no longer available.")
            except RunnerBusy as busy:
                return errors.Busy(EVERY_RUNNER_BUSY, retry_after=busy.retry_after)
            except RunnerUnavailable as down:
                return errors.Unavailable(NO_RUNNER, retry_after=down.retry_after)

        with ThreadPoolExecutor(max_workers=max(1, at_once)) as pool:
            return list(pool.map(one, builds))

    # --- shared -------------------------------------------------------------------------------

    def _source_image(self, data: RunRequestData) -> tuple[SourceRef | None, bytes | None]:
        """The image the run renders with the generation it was read at, so that storing the
        run can tell whether it was deleted meanwhile."""
        if not data.options.source:
            return None, None
        blob = self.fiddles.source_image(data.options.source)
        if blob is None:
            raise _no_source(data.options.source)
        return SourceRef(data.options.source, blob.generation), blob.data

    def _charge(self, client: ClientKeys, data: RunRequestData, result: RunResult) -> None:
        """Refuse (and store nothing) past the per-run cap or the client's hourly quota."""
        size = len(data.code.encode("utf-8"))
        if result.succeeded:
            size += sum(len(output) for output in result.outputs.values())
            # The printed text and the outputs' errors are in the run's marker too.
            size += len(result.text.encode("utf-8", "replace"))
            size += sum(len(e.encode("utf-8", "replace")) for e in result.output_errors.values())
        else:  # the failure's record
            texts = [result.runtime_error, *(error.text for error in result.compile_errors)]
            size += sum(len(text.encode("utf-8", "replace")) for text in texts)
        check_run_size(size, self.limits.max_run_bytes)
        self.limits.quota.charge(client, size)


def _rendered_options(options: FiddleOptions) -> FiddleOptions:
    """The options the runner renders with. A still fiddle may keep a duration (Skia's editor
    keeps it, and it is part of the hash), but its program sees a duration of 0."""
    if not options.animated:
        options = dataclasses.replace(options, duration=0.0)
    return options


def _no_source(source: int) -> InvalidRequest:
    return InvalidRequest(
        f"There is no source image with id {source}.",
        {"options.source": ["no uploaded source image has this id"]},
    )


def _from_storage(digest: str, run: StoredRun, version: str) -> RunAnswer:
    return RunAnswer(
        fiddle_hash=digest,
        runid=run.runid,
        version=version,
        text=run.text,
        output_errors=dict(run.output_errors),
        cached=True,
        outputs=run.outputs,
        gpu=run.gpu,
    )


def _from_result(digest: str, result: RunResult, version: str) -> RunAnswer:
    return RunAnswer(
        fiddle_hash=digest,
        runid=result.runid,
        version=version,
        compile_errors=[error.to_json() for error in result.compile_errors],
        runtime_error=result.runtime_error,
        output_errors=result.output_errors,
        text=result.text,
        outputs=tuple(result.outputs) if result.succeeded else (),
        gpu=result.gpu,
    )
