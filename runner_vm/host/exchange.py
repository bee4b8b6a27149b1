"""What the runner service and a sandbox host say to each other per run, as frames (framing.py)
on the host's stdin and stdout.

    service -> host:  a RunHeader, then the request's bytes as the functions sent them
    host -> service:  a RunSummary, then the RunResult's bytes, which the service sends on as its
                      HTTP answer without reading them

The header carries what the host needs to judge the result (the task, the options, the run's
names), so the host never parses the request: the child does, once. The summary carries what the
service needs for its lifecycle events and metrics, so the service never parses the result: the
functions do, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.host.framing import FrameError


@dataclass(frozen=True)
class RunHeader:
    run_uuid: str
    runid: str  # the build's, which names the run's outputs
    task: str
    options: FiddleOptions

    @classmethod
    def of(cls, request: RunRequest, runid: str) -> RunHeader:
        return cls(request.run_uuid, runid, request.task, request.options)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_uuid": self.run_uuid,
            "runid": self.runid,
            "task": self.task,
            "options": self.options.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> RunHeader:
        """Raises FrameError for anything but a header the service wrote."""
        try:
            options = FiddleOptions.from_json(data["options"])
            return cls(str(data["run_uuid"]), str(data["runid"]), str(data["task"]), options)
        except (KeyError, TypeError, ValueError) as error:
            raise FrameError(f"not a run header ({error!r:.100})") from error


@dataclass(frozen=True)
class RunSummary:
    compile_errors: int
    ok: bool
    limit: str  # the kind of the limit that stopped the run, or ""
    duration_ms: float

    @classmethod
    def of(cls, result: RunResult) -> RunSummary:
        limit = result.limit.kind if result.limit else ""
        return cls(len(result.compile_errors), result.succeeded, limit, result.duration_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "compile_errors": self.compile_errors,
            "ok": self.ok,
            "limit": self.limit,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunSummary:
        """Raises FrameError for anything but a summary a host wrote."""
        try:
            return cls(
                int(data["compile_errors"]),
                bool(data["ok"]),
                str(data["limit"]),
                float(data["duration_ms"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise FrameError(f"not a run summary ({error!r:.100})") from error
