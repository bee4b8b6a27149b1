"""The functions' client of runner services (the messages are fiddle_protocol/messages.py's): one
interface, an HTTP implementation beside it. A runner's answer is parsed here, once.

Runners may hold different Skia builds (a new build rolls out runner by runner): each runner's
RunnerInfo says which it has, and a run goes only to runners that have the build it names. The
service's builds are those of every runner in rotation together; HEAD is the newest of them."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from abc import ABC, abstractmethod

import requests

from fiddle_protocol import outputs, versions
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.messages import ProtocolError, RunnerInfo, RunRequest, RunResult
from fiddle_protocol.signing import NoSigner, Signer
from fiddle_protocol.versions import BuildInfo
from functions.text import clean_result

log = logging.getLogger(__name__)
VERSION_TTL_SECONDS = 30.0
# How long a run may wait for a busy runner before the caller is told to come back later.
BUSY_WAIT_SECONDS = 15.0
# A runner that failed to answer sits out this long; then a health check may bring it back.
DOWN_SECONDS = 10.0
# How long a health check of a runner out of rotation, or a GET of its /version, may take.
PROBE_SECONDS = 2.0
DESCRIBE_SECONDS = 5.0


class RunnerUnavailable(RuntimeError):
    """No runner could take the run, for now: come back after retry_after seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RunnerBusy(RunnerUnavailable):
    """Runners answer, but every one is busy: waiting a little helps."""


class BuildGone(RunnerUnavailable):
    """No runner has the build the run names (any more): the service's builds changed."""


class RunnerClient(ABC):
    @abstractmethod
    def run(self, request: RunRequest) -> RunResult:
        """Run one fiddle at the build it names; raise RunnerUnavailable when no runner can,
        BuildGone when no runner has that build."""

    @abstractmethod
    def describe(self) -> RunnerInfo:
        """A runner's builds and sandbox."""

    def builds(self) -> list[BuildInfo]:
        """Every build some runner has, newest first, HEAD (the newest) marked."""
        return merged_builds([self.describe()])

    def forget_builds(self) -> None:  # noqa: B027  -- optional: a client that keeps no copy
        """Read the runners' builds again at the next question (a build came or went)."""


class BackgroundRunner(RunnerClient):
    """The runners as jobs use them: every run is a background run, which a runner takes only
    when it has a host to spare (fiddle_protocol's RunRequest.background), so interactive runs
    go first."""

    def __init__(self, runners: RunnerClient) -> None:
        self.runners = runners

    def run(self, request: RunRequest) -> RunResult:
        return self.runners.run(dataclasses.replace(request, background=True))

    def describe(self) -> RunnerInfo:
        return self.runners.describe()

    def builds(self) -> list[BuildInfo]:
        return self.runners.builds()

    def forget_builds(self) -> None:
        self.runners.forget_builds()


def merged_builds(infos: list[RunnerInfo]) -> list[BuildInfo]:
    """The builds of several runners as one list: each once, warm if warm anywhere, with the
    hosts of all; HEAD is the newest of them all. A runner that lists no builds (an older one)
    has its one build."""
    found: dict[str, BuildInfo] = {}
    for info in infos:
        listed = info.builds or (
            BuildInfo(info.runid, info.skia_python, info.runid.rsplit("-", 1)[0], True, True, 1),
        )
        for build in listed:
            seen = found.get(build.runid)
            if seen is not None:
                build = dataclasses.replace(
                    seen, warm=seen.warm or build.warm, hosts=seen.hosts + build.hosts
                )
            found[build.runid] = build
    ordered = versions.newest_first(found.values())
    return [dataclasses.replace(build, head=index == 0) for index, build in enumerate(ordered)]


class RunnerHealth:
    """Which runners are in rotation: one that fails is taken out for `down_seconds`; then a
    health check of its /healthz, in the background so that no run waits on it, brings it back
    (or keeps it out for another `down_seconds`)."""

    def __init__(
        self, urls: tuple[str, ...], session: requests.Session, down_seconds: float = DOWN_SECONDS
    ) -> None:
        self.urls = urls
        self.session = session
        self.down_seconds = down_seconds
        self._down_until: dict[str, float] = {}
        self._probing: set[str] = set()
        self._lock = threading.Lock()

    def mark_down(self, url: str) -> None:
        with self._lock:
            self._down_until[url] = time.monotonic() + self.down_seconds
        log.warning("runner %s is out of rotation", url)

    def in_rotation(self, url: str) -> bool:
        with self._lock:
            until = self._down_until.get(url)
        if until is None:
            return True
        if time.monotonic() >= until:
            self._probe_in_background(url)
        return False

    def _probe_in_background(self, url: str) -> None:
        with self._lock:
            if url in self._probing:
                return
            self._probing.add(url)
        threading.Thread(target=self._probe, args=(url,), name="runner-probe", daemon=True).start()

    def _probe(self, url: str) -> None:
        try:
            healthy = self.session.get(f"{url}/healthz", timeout=PROBE_SECONDS).ok
        except requests.RequestException:
            healthy = False
        with self._lock:
            self._probing.discard(url)
            if healthy:
                self._down_until.pop(url, None)
            else:
                self._down_until[url] = time.monotonic() + self.down_seconds
        if healthy:
            log.info("runner %s is back in rotation", url)


class HttpRunnerClient(RunnerClient):
    """Talks to runners over HTTP, spreading runs round-robin and trying the next runner when
    one is down; while they are only busy, it waits with backoff."""

    def __init__(
        self, urls: tuple[str, ...], timeout: float = 40.0, signer: Signer | None = None
    ) -> None:
        if not urls:
            raise ValueError("at least one runner URL is needed (FIDDLE_RUNNERS)")
        self.urls = urls
        self.timeout = timeout
        self.signer = signer or NoSigner()
        self._turn = 0
        self._session = requests.Session()
        # Runners are named explicitly: no proxy or .netrc from the environment may step in
        # between (and looking them up costs half a millisecond per run).
        self._session.trust_env = False
        self.health = RunnerHealth(urls, self._session)
        self._infos: dict[str, tuple[float, RunnerInfo]] = {}
        # Describing is quick when a runner is well; never wait longer than for a run.
        self._describe_timeout = min(DESCRIBE_SECONDS, timeout)
        self._lock = threading.Lock()

    def _order(self, *, advance: bool = True) -> list[str]:
        """The runners in rotation, starting at the next one in turn. Only a run takes a turn:
        were describing a runner to take one too, a run would take two, and with an even
        number of runners every run would land on the same one."""
        with self._lock:
            start = self._turn % len(self.urls)
            self._turn += advance
        ordered = [self.urls[(start + i) % len(self.urls)] for i in range(len(self.urls))]
        healthy = [url for url in ordered if self.health.in_rotation(url)]
        return healthy or ordered

    def _having(self, build: str) -> list[str]:
        """The runners, in turn, that have the build ("": any)."""
        ordered = self._order()
        if not build:
            return ordered
        return [url for url in ordered if any(b.runid == build for b in self._builds_of(url))]

    def run(self, request: RunRequest) -> RunResult:
        return verified(request, self._run_with_backoff(request))

    def _run_with_backoff(self, request: RunRequest) -> RunResult:
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        delay = 0.05
        body = request.to_bytes()
        while True:
            try:
                return self._run_anywhere(body, request.build)
            except RunnerBusy:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    def _run_anywhere(self, body: bytes, build: str) -> RunResult:
        failures: list[RunnerUnavailable] = []
        for url in self._having(build):
            try:
                return self._run_on(url, body)
            except RunnerUnavailable as why:
                failures.append(why)
        if not failures:
            raise BuildGone(f"no runner has build {build}")
        # Busy wins over down: a busy runner will soon take the run.
        raise next((f for f in failures if isinstance(f, RunnerBusy)), failures[-1])

    def _run_on(self, url: str, body: bytes) -> RunResult:
        headers = {"Content-Type": "application/json", **self.signer.headers(body)}
        try:
            response = self._session.post(
                f"{url}/run", data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as error:
            self.health.mark_down(url)
            raise RunnerUnavailable(f"runner {url} is unreachable") from error
        return self._result(url, response)

    def _result(self, url: str, response: requests.Response) -> RunResult:
        if response.status_code == 404:
            # The runner no longer has the build: read its builds again before the next run.
            with self._lock:
                self._infos.pop(url, None)
            raise BuildGone(f"runner {url} does not have the build")
        if response.status_code in (429, 503):
            retry = _retry_after(response.headers.get("Retry-After", ""))
            busy = RunnerBusy if response.status_code == 429 else RunnerUnavailable
            raise busy(f"runner {url} answered HTTP {response.status_code}", retry)
        if response.status_code != 200:
            log.error("runner %s answered HTTP %d", url, response.status_code)
            raise RunnerUnavailable(f"runner {url} failed with HTTP {response.status_code}")
        try:
            return read_result(response.content)
        except ProtocolError as error:
            log.error("runner %s sent a malformed answer: %s", url, error)
            raise RunnerUnavailable(f"runner {url} sent a malformed answer") from error

    def describe(self) -> RunnerInfo:
        for url in self._order(advance=False):
            info = self._info(url)
            if info is not None:
                return info
        raise RunnerUnavailable("no runner is reachable")

    def builds(self) -> list[BuildInfo]:
        infos = [
            info for url in self._order(advance=False) if (info := self._info(url)) is not None
        ]
        if not infos:
            raise RunnerUnavailable("no runner is reachable")
        return merged_builds(infos)

    def forget_builds(self) -> None:
        """Read every runner's builds again at the next question (a build came or went)."""
        with self._lock:
            self._infos.clear()

    def _builds_of(self, url: str) -> tuple[BuildInfo, ...]:
        info = self._info(url)
        if info is None:
            return ()
        return info.builds or tuple(merged_builds([info]))  # an older runner: its one build

    def _info(self, url: str) -> RunnerInfo | None:
        """The runner's /version, read again after VERSION_TTL_SECONDS; None when it does not
        answer (it leaves rotation)."""
        with self._lock:
            cached = self._infos.get(url)
        if cached and time.monotonic() - cached[0] < VERSION_TTL_SECONDS:
            return cached[1]
        try:
            response = self._session.get(f"{url}/version", timeout=self._describe_timeout)
            if response.ok:
                info = RunnerInfo.from_json(response.json())
                with self._lock:
                    self._infos[url] = (time.monotonic(), info)
                return info
            self.health.mark_down(url)
        except ProtocolError as error:
            log.error("runner %s describes itself in another protocol: %s", url, error)
            self.health.mark_down(url)
        except (requests.RequestException, ValueError):
            self.health.mark_down(url)
        return None


def _retry_after(header: str) -> int:
    """A runner's Retry-After in whole seconds (2 when it sent none that can be read)."""
    header = header.strip()
    return min(int(header), 3600) if header.isascii() and header.isdigit() else 2


def read_result(body: bytes) -> RunResult:
    """A runner's answer to a run, parsed: the one reading of a RunResult on this side. Text
    crosses into storage and pages here, so it is made valid Unicode once, at the edge. Raises
    ProtocolError for anything but a RunResult of this protocol."""
    return clean_result(RunResult.from_bytes(body))


def verified(request: RunRequest, result: RunResult) -> RunResult:
    """The result, if its outputs are exactly those the request produces and each is what it
    claims. The sandbox host checks them too, but it lives in the container with the program:
    nothing it answers is stored unchecked."""
    facts = RunFacts(request.options, result.text, frozenset(result.output_errors), gpu=result.gpu)
    problem = outputs.problem(request.task, facts, result.outputs, result.succeeded)
    if problem:
        log.error("a runner answered outputs that fail their checks: %s", problem)
        raise RunnerUnavailable(f"the runner's answer failed its checks: {problem}")
    return result
