"""Whole answers replayed from memory, in front of the app, for the hot read paths.

Profiling `/i/`, `/ai/`, `/e/` and `/s/` under 16 connections showed the app's own work per
request (routing, the request context, the hooks) and above all its calls that leave the
interpreter (a SQLite query for `/e/`'s source ids, `open` and `pread` for `/s/`): each releases
the GIL, and with eight busy threads getting it back costs a thread handoff, so those routes lost
more rate the more clients there were. An answer a view marks replayable (`replayable`) is kept
here, whole, and the same GET is answered from memory without entering Flask, as a CDN in front of
the functions would answer it.

Views mark what may be replayed and for how long: outputs that can never be withdrawn, named by
the fiddle's hash (a run's for an hour, the newest run's for as long as a fiddle's run list is
trusted, 10 s); `/e/` JSON of a fiddle named by its hash that renders no source image (10 s);
source images (2 s, since an admin in another process may delete one). Every entry carries tags
(the fiddle's hash, the source image's id, the list of images); whatever this process changes
about one of them purges its tag at once, so this process never replays what it knows is stale,
and other processes at most for the entry's seconds, as their read caches do.

A request is replayed only when it is a plain GET: no Range, no conditional header, no
Authorization (an answer under a credential is never kept either, nor one that sets a cookie or
varies with a request header).
Everything else, and every miss, goes to the app unchanged. Replays are counted in the HTTP
metrics under the route that made the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import request

from functions.readcache import ReadCache

# The WSGI environ keys: the view's mark, and the route the answer came from (for the metrics).
REPLAY_KEY = "fiddle.replay"
ROUTE_KEY = "fiddle.route"
# Requests carrying any of these are answered by the app (each can change the answer).
_PASS_HEADERS = (
    "HTTP_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_AUTHORIZATION",
)  # fmt: skip
# The bookkeeping of an entry beyond its body, for the size accounting.
_ENTRY_OVERHEAD = 1024
# The tag index is swept when it holds more keys than this many per kept answer, plus the slack.
_REINDEX_FACTOR, _REINDEX_SLACK = 4, 1024

Key = tuple[str, str, str]  # host, path, query
Recorder = Callable[[str, int, float], None]
StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Replay:
    """A view's mark: the answer may be replayed for `seconds`, until one of `tags` is purged."""

    seconds: float
    tags: tuple[str, ...]


def replayable(seconds: float, *tags: str) -> None:
    """Mark the current request's answer as replayable (kept only if it is a 200 to a plain GET
    that sets no cookie and varies with no request header)."""
    request.environ[REPLAY_KEY] = Replay(seconds, tags)


@dataclass(frozen=True)
class _Entry:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    route: str
    tags: tuple[str, ...]


class ResponseCache:
    """Least-recently-used answers up to `max_bytes` (kept in a ReadCache); none larger than
    `largest` bytes."""

    def __init__(
        self,
        max_bytes: int,
        largest: int,
        record: Recorder,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.largest = largest
        self._record = record
        self._entries = ReadCache(max_bytes, clock=clock)
        # Tag -> the keys of the answers it tags, so that a purge (one per stored run) costs what
        # it forgets, not a pass over every answer. Keys the cache has let go since are dropped
        # from it when it grows past a few times the answers kept (`_reindex`).
        self._tagged: dict[str, set[Key]] = {}
        self._indexed = 0
        # Bumped by every purge: an answer made while one happened may be stale, and is not kept.
        self._purges = 0
        self._lock = threading.Lock()

    def wrap(self, app: Wsgi) -> Wsgi:
        def serve(wsgi_environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            key = _key(wsgi_environ)
            if key is None:
                return app(wsgi_environ, start_response)
            entry = self._entries.get(key)
            if entry is not None:
                return self._replay(entry, start_response)
            return self._through(app, key, wsgi_environ, start_response)

        return serve

    def purge(self, tag: str) -> None:
        """Forget every answer tagged `tag` (something it shows has changed)."""
        with self._lock:
            self._purges += 1
            self._entries.discard(*self._tagged.pop(tag, ()))

    def __len__(self) -> int:
        return len(self._entries)

    def _replay(self, entry: _Entry, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        start_response(entry.status, list(entry.headers))
        self._record(entry.route, 200, time.perf_counter() - started)
        return [entry.body]

    def _through(
        self,
        app: Wsgi,
        key: Key,
        wsgi_environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        purges = self._purges
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            seen[:] = [status, list(headers)]
            return start_response(status, headers, *rest)

        answer = app(wsgi_environ, capture)
        replay = wsgi_environ.get(REPLAY_KEY)
        if not isinstance(replay, Replay) or not seen or not _keepable(*seen):
            return answer
        body = _drain(answer)
        if len(body) <= self.largest:
            route = wsgi_environ.get(ROUTE_KEY, "unmatched")
            entry = _Entry(seen[0], seen[1], body, route, replay.tags)
            self._keep(key, entry, replay.seconds, purges)
        return [body]

    def _keep(self, key: Key, entry: _Entry, seconds: float, purges: int) -> None:
        with self._lock:
            if purges != self._purges:
                return
            self._entries.put(key, entry, len(entry.body) + _ENTRY_OVERHEAD, ttl=seconds)
            for tag in entry.tags:
                self._tagged.setdefault(tag, set()).add(key)
            self._indexed += len(entry.tags)
            if self._indexed > _REINDEX_FACTOR * len(self._entries) + _REINDEX_SLACK:
                self._reindex()

    def _reindex(self) -> None:
        """Forget the keys of answers the cache has let go (evicted or replaced); call with the
        lock held. Amortised: it runs after a few times as many keeps as answers are kept."""
        live = {
            tag: {key for key in keys if key in self._entries} for tag, keys in self._tagged.items()
        }
        self._tagged = {tag: keys for tag, keys in live.items() if keys}
        self._indexed = sum(len(keys) for keys in self._tagged.values())


def _key(wsgi_environ: dict[str, Any]) -> Key | None:
    """What names an answer (host, path, query), or None for a request the app must answer."""
    if wsgi_environ.get("REQUEST_METHOD") != "GET" or any(h in wsgi_environ for h in _PASS_HEADERS):
        return None
    return (wsgi_environ.get("HTTP_HOST", ""), wsgi_environ.get("PATH_INFO", ""),
            wsgi_environ.get("QUERY_STRING", ""))  # fmt: skip


def _keepable(status: str, headers: list[tuple[str, str]]) -> bool:
    """A 200 the same for everyone: it sets no cookie and varies with no request header (Flask
    adds `Vary: Cookie` to an answer that read the session)."""
    personal = {"set-cookie", "vary"}
    return status.startswith("200 ") and not any(name.lower() in personal for name, _ in headers)


def _drain(answer: Iterable[bytes]) -> bytes:
    """The whole body of a WSGI answer, closing it as a server would."""
    try:
        return b"".join(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
