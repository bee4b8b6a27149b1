"""Dispatching a run: validate the request, answer from storage when possible, else send it to a
runner and store the result, within what one client may take (functions/quotas.py).

Fiddles are stored under their canonical (fiddle 1.0) hash; the answer's `fiddleHash` is in the
form the operator chose (FIDDLE_HASH), and both forms lead to the fiddle (functions/fiddles.py).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

from fiddle_protocol.messages import RunnerInfo, RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from functions import errors
from functions.fiddles import FiddleRepository, SourceRef, StoredRun
from functions.hashing import FIDDLE1, fiddle_hash, hash_in_form
from functions.quotas import ClientKeys, ClientLimits, check_run_size
from functions.runner_client import RunnerBusy, RunnerClient, RunnerUnavailable
from functions.schemas import InvalidRequest, RunRequestData, parse_run_request
from functions.source_runs import SourceRuns


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

    def to_json(self) -> dict[str, Any]:
        return {
            "fiddleHash": self.fiddle_hash,
            "compile_errors": self.compile_errors,
            "runtime_error": self.runtime_error,
            "text": self.text,
            "version": self.version,
            "runid": self.runid,
            "cached": self.cached,
        }


EVERY_RUNNER_BUSY = "Every runner is busy; try again shortly."
NO_RUNNER = "No runner is available right now; try again shortly."


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

    def run(self, payload: object, client: ClientKeys = ()) -> RunAnswer:
        """Answer a run request from `client` (no keys: the service itself, under no limits).
        Raises errors.FiddleError subclasses for everything it declines."""
        try:
            return self._answer(payload, client)
        except RunnerBusy as busy:
            raise errors.Busy(EVERY_RUNNER_BUSY, retry_after=busy.retry_after) from busy
        except RunnerUnavailable as down:
            raise errors.Unavailable(NO_RUNNER, retry_after=down.retry_after) from down

    def _answer(self, payload: object, client: ClientKeys) -> RunAnswer:
        data = parse_run_request(payload)
        answer = self._answer_canonical(data, client)
        return dataclasses.replace(answer, fiddle_hash=self._shown_hash(data))

    def _answer_canonical(self, data: RunRequestData, client: ClientKeys) -> RunAnswer:
        self._check_source(data)
        digest = fiddle_hash(data.code, data.options)
        if data.fast:
            stored = self._newest_stored(digest)
            if stored:
                return stored
        build = self.runner.describe()
        self._check_version(data, build)
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

    @staticmethod
    def _check_version(data: RunRequestData, build: RunnerInfo) -> None:
        if data.version and data.version not in (build.runid, build.skia_python):
            raise InvalidRequest(
                f"Skia version {data.version} is not available; this service runs "
                f"{build.skia_python}.",
                {"version": ["is not an available Skia version"]},
            )

    def _newest_stored(self, digest: str) -> RunAnswer | None:
        newest = self.fiddles.newest_run(digest)
        if newest is None:
            return None
        return _from_storage(digest, newest, newest.runid.rsplit("-", 1)[-1])

    def _run_and_store(
        self, digest: str, data: RunRequestData, build: RunnerInfo, client: ClientKeys
    ) -> RunAnswer:
        # Code is kept even when it fails to compile, as Skia Fiddle does; outputs only on success.
        source, source_png = self._source_image(data)
        self.limits.quota.check_room(client)
        with self.limits.fair_share.slot(client):
            result = self.runner.run(
                RunRequest(
                    str(uuid.uuid4()), data.code, _rendered_options(data.options), source_png
                )
            )
        self._charge(client, data, result)
        # The code and its alias before the run: a stored run always has both.
        self.fiddles.save_code(digest, data.code, data.options)
        if result.succeeded:
            self.source_runs.store(digest, result.runid, result.outputs, result.text, source)
        return _from_result(digest, result, build.skia_python)

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
            size += len(result.text.encode("utf-8", "replace"))  # again in the run's marker
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
        cached=True,
    )


def _from_result(digest: str, result: RunResult, version: str) -> RunAnswer:
    return RunAnswer(
        fiddle_hash=digest,
        runid=result.runid,
        version=version,
        compile_errors=[error.to_json() for error in result.compile_errors],
        runtime_error=result.runtime_error,
        text=result.text,
    )
