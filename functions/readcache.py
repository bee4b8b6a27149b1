"""A small, bounded, thread-safe cache of facts that never change once stored.

The read path of the service (/i/, /ai/, /e/, the pages) asks storage the same questions again and
again about objects that are written once: a fiddle's code and options, a run's commit marker, a
run's outputs. Each answer is kept here, in this process, up to a total size: the least recently
used answers are dropped first. Nothing that can change is kept without a deadline (see
`FiddleRepository` for what is kept and how withdrawal of a run is noticed).

One lock guards the whole cache; every operation under it is a few dictionary steps, so readers
never wait on storage or on each other for long.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Entry:
    value: Any
    size: int
    expires: float  # time.monotonic() after which the entry is gone; inf for never


class ReadCache:
    """Least-recently-used entries up to `max_bytes` in total (each entry says its size)."""

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key: Hashable) -> Any | None:
        """The value kept for key, or None when there is none (or it expired)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires != float("inf") and entry.expires <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: Hashable, value: Any, size: int, ttl: float | None = None) -> None:
        """Keep value under key; an entry larger than the whole cache is not kept."""
        if size > self.max_bytes:
            return
        expires = float("inf") if ttl is None else self._clock() + ttl
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = _Entry(value, size, expires)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def discard(self, *keys: Hashable) -> None:
        with self._lock:
            for key in keys:
                if key in self._entries:
                    self._drop(key)

    def __contains__(self, key: Hashable) -> bool:
        """Whether an entry is kept under key (expired or not; it is not counted as a use)."""
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    def _drop(self, key: Hashable) -> None:
        """Call with the lock held."""
        self._bytes -= self._entries.pop(key).size
