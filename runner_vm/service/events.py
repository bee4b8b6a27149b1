"""Lifecycle events of a run and the hooks that observe them (metrics, logs, audit).

Every event carries the run's UUID, which names every trace the run leaves. Hooks must not raise:
a failing hook is logged and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger(__name__)


class Event(StrEnum):
    PRE_COMPILE = "pre_compile"
    POST_COMPILE = "post_compile"
    PRE_RUN = "pre_run"
    POST_RUN = "post_run"
    TIMEOUT = "timeout"
    KILLED = "killed"
    CLEANUP = "cleanup"


@dataclass(frozen=True)
class EventRecord:
    event: Event
    run_uuid: str
    details: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


Hook = Callable[[EventRecord], None]


class EventBus:
    def __init__(self) -> None:
        self._hooks: list[Hook] = []

    def subscribe(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def emit(self, event: Event, run_uuid: str, **details: Any) -> None:
        record = EventRecord(event, run_uuid, details)
        for hook in self._hooks:
            try:
                hook(record)
            except Exception:
                log.exception("hook %r failed on %s", hook, event.value)


class MetricsHook:
    """Prometheus counters and latency histograms, served on the runner's /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "fiddle_runner_events", "Lifecycle events of runs", ["event"], registry=registry
        )
        self.limits = Counter(
            "fiddle_runner_limits", "Runs stopped by a sandbox limit", ["limit"], registry=registry
        )
        self.run_seconds = Histogram(
            "fiddle_runner_run_seconds",
            "Time of a run inside its sandbox",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
            registry=registry,
        )

    def __call__(self, record: EventRecord) -> None:
        self.events.labels(record.event.value).inc()
        if record.event is Event.POST_RUN and "duration_ms" in record.details:
            self.run_seconds.observe(record.details["duration_ms"] / 1000)
        if record.event in (Event.TIMEOUT, Event.KILLED):
            self.limits.labels(record.details.get("limit", "unknown")).inc()


class JsonLogHook:
    """One structured JSON line per run, written when the run is cleaned up."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("fiddle.runs")
        self._pending: dict[str, dict[str, Any]] = {}

    def __call__(self, record: EventRecord) -> None:
        entry = self._pending.setdefault(record.run_uuid, {"run_uuid": record.run_uuid})
        entry.setdefault("events", []).append(record.event.value)
        entry.update(record.details)
        if record.event is Event.CLEANUP:
            self.logger.info(json.dumps(self._pending.pop(record.run_uuid), sort_keys=True))
