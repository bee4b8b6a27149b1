"""Running a fiddle: validate, answer from storage when possible, else run and store the result."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from functions.fiddles import FiddleRepository, StoredRun
from functions.hashing import fiddle_hash
from functions.runner_client import RunnerClient
from functions.schemas import InvalidRequest, RunRequestData, parse_run_request
from functions.sources import SourceImages
from runner_vm.protocol import RunRequest, RunResult


@dataclass
class RunAnswer:
    """The body of a `POST /_/run` answer (SPEC section 4)."""

    fiddle_hash: str
    runid: str
    version: str
    compile_errors: list[dict[str, Any]] = field(default_factory=list)
    runtime_error: str = ""
    text: str = ""
    cached: bool = False

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


class FiddleRunner:
    def __init__(
        self, fiddles: FiddleRepository, runner: RunnerClient, sources: SourceImages
    ) -> None:
        self.fiddles = fiddles
        self.runner = runner
        self.sources = sources

    def run(self, payload: object) -> RunAnswer:
        data = parse_run_request(payload)
        self._check_source(data)
        digest = fiddle_hash(data.code, data.options)
        if data.fast:
            stored = self._newest_stored(digest)
            if stored:
                return stored
        build = self.runner.describe()
        self._check_version(data, build)
        existing = self.fiddles.run(digest, build["runid"]) if self.fiddles.load(digest) else None
        if existing:
            return _from_storage(digest, existing, build)
        return self._run_and_store(digest, data, build)

    def _check_source(self, data: RunRequestData) -> None:
        source = data.options.source
        if source and not self.fiddles.source_exists(source):
            raise InvalidRequest(
                f"There is no source image with id {source}.",
                {"options.source": ["no uploaded source image has this id"]},
            )

    @staticmethod
    def _check_version(data: RunRequestData, build: dict[str, Any]) -> None:
        if data.version and data.version not in (build["runid"], build["skia_python"]):
            raise InvalidRequest(
                f"Skia version {data.version} is not available; this service runs "
                f"{build['skia_python']}.",
                {"version": ["is not an available Skia version"]},
            )

    def _newest_stored(self, digest: str) -> RunAnswer | None:
        newest = self.fiddles.newest_run(digest)
        if newest is None:
            return None
        return _from_storage(digest, newest, {"skia_python": newest.runid.rsplit("-", 1)[-1]})

    def _run_and_store(self, digest: str, data: RunRequestData, build: dict[str, Any]) -> RunAnswer:
        # Code is kept even when it fails to compile, as Skia Fiddle does; outputs only on success.
        source_png = self.fiddles.source_png(data.options.source) if data.options.source else None
        result = self.runner.run(
            RunRequest(str(uuid.uuid4()), data.code, data.options.to_json(), source_png)
        )
        self.fiddles.save_code(digest, data.code, data.options)
        if result.succeeded:
            if data.options.source:
                self.sources.record_use(data.options.source, digest)
            self.fiddles.save_run(digest, result.runid, result.outputs, result.text)
        return _from_result(digest, result, build)


def _from_storage(digest: str, run: StoredRun, build: dict[str, Any]) -> RunAnswer:
    return RunAnswer(
        fiddle_hash=digest,
        runid=run.runid,
        version=str(build.get("skia_python", "")),
        text=run.text,
        cached=True,
    )


def _from_result(digest: str, result: RunResult, build: dict[str, Any]) -> RunAnswer:
    return RunAnswer(
        fiddle_hash=digest,
        runid=result.runid,
        version=str(build.get("skia_python", "")),
        compile_errors=[error.to_json() for error in result.compile_errors],
        runtime_error=result.runtime_error,
        text=result.text,
    )
