"""The functions' side of the runner protocol: one interface, an HTTP implementation beside it."""

from __future__ import annotations

import itertools
import random
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

import requests

from runner_vm.protocol import ProtocolError, RunRequest, RunResult

VERSION_TTL_SECONDS = 30.0
# How long a run may wait for a busy runner before the caller is told to come back later.
BUSY_WAIT_SECONDS = 15.0


class RunnerUnavailable(RuntimeError):
    """No runner could take the run; the caller answers 503 (or 429) with Retry-After."""

    def __init__(self, message: str, retry_after: int = 5, status: int = 503) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RunnerClient(ABC):
    @abstractmethod
    def run(self, request: RunRequest) -> RunResult:
        """Run one fiddle; raise RunnerUnavailable when no runner can."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The runner's build and sandbox: {"runid", "skia_python", "sandbox", ...}."""


class HttpRunnerClient(RunnerClient):
    """Talks to runners over HTTP, trying the next one when a runner is down or busy."""

    def __init__(self, urls: tuple[str, ...], timeout: float = 40.0) -> None:
        if not urls:
            raise ValueError("at least one runner URL is needed")
        self.urls = urls
        self.timeout = timeout
        self._next = itertools.cycle(range(len(urls)))
        self._session = requests.Session()
        self._described: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _order(self) -> list[str]:
        with self._lock:
            start = next(self._next)
        return [self.urls[(start + i) % len(self.urls)] for i in range(len(self.urls))]

    def run(self, request: RunRequest) -> RunResult:
        """Try each runner; while they are only busy (429), wait with backoff and try again."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        delay = 0.05
        while True:
            try:
                return self._run_anywhere(request)
            except RunnerUnavailable as why:
                if why.status != 429 or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    def _run_anywhere(self, request: RunRequest) -> RunResult:
        failures: list[RunnerUnavailable] = []
        for url in self._order():
            try:
                return self._run_on(url, request)
            except RunnerUnavailable as why:
                failures.append(why)
        # Busy wins over down: a busy runner will soon take the run.
        raise next((f for f in failures if f.status == 429), failures[-1])

    def _run_on(self, url: str, request: RunRequest) -> RunResult:
        try:
            response = self._session.post(
                f"{url}/run", json=request.to_json(), timeout=self.timeout
            )
        except requests.RequestException as error:
            raise RunnerUnavailable(f"runner {url} is unreachable") from error
        if response.status_code in (429, 503):
            retry = int(response.headers.get("Retry-After", "2") or 2)
            raise RunnerUnavailable("every runner is busy", retry, response.status_code)
        if response.status_code != 200:
            raise RunnerUnavailable(f"runner {url} failed with HTTP {response.status_code}")
        try:
            return RunResult.from_json(response.json())
        except (ValueError, ProtocolError) as error:
            raise RunnerUnavailable(f"runner {url} sent a malformed answer") from error

    def describe(self) -> dict[str, Any]:
        cached = self._described
        if cached and time.monotonic() - cached[0] < VERSION_TTL_SECONDS:
            return cached[1]
        for url in self._order():
            try:
                response = self._session.get(f"{url}/version", timeout=5)
                if response.ok:
                    self._described = (time.monotonic(), dict(response.json()))
                    return self._described[1]
            except (requests.RequestException, ValueError):
                continue
        raise RunnerUnavailable("no runner is reachable")
