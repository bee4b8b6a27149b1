"""What one client may take: bytes stored per hour, bytes per run, and runs in flight at once.

A client is keyed as the rate limits key it: by address, and by user too when signed in; a
request is held to the limit of every key it has. An empty key tuple is the service itself
(storing the editor's examples at start-up), which no limit applies to.

The counts live in this process, as the rate limits' do: with several instances of the
functions, each instance holds every client to the limits on its own. A limit of 0 turns it off.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from functions.errors import Busy, QuotaExceeded, TooLarge

ClientKeys = tuple[str, ...]
WINDOW_SECONDS = 3600.0
# How soon a client refused for having too many runs in flight is told to come back: most runs
# take well under this.
IN_FLIGHT_RETRY_SECONDS = 2
# Ledgers of clients that stored nothing for a whole window are dropped this often.
SWEEP_SECONDS = 60.0
MIB = 1 << 20


class TooManyInFlight(Busy):
    """The client already has as many runs in progress as it may."""


def mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def check_run_size(size: int, cap: int) -> None:
    """TooLarge if a run would store more than the cap (0: no cap)."""
    if cap and size > cap:
        raise TooLarge(
            f"This run would store {mib(size)} of code and outputs, more than the "
            f"{mib(cap)} one run may store, so nothing was stored."
        )


class _Ledger:
    """What one key stored in the last window: (time, bytes) oldest first, and their sum."""

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def expire(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - WINDOW_SECONDS:
            self.total -= self.entries.popleft()[1]

    def seconds_until_room(self, need: int, limit: int, now: float) -> float:
        """0 when `need` more bytes fit now; else how long until enough of the window expires
        (infinite when they never fit)."""
        excess = self.total + need - limit
        if excess <= 0:
            return 0.0
        if need > limit:
            return math.inf
        for stored_at, size in self.entries:
            excess -= size
            if excess <= 0:
                return stored_at + WINDOW_SECONDS - now
        return math.inf  # not reached: the entries sum to the total, which covers the excess


class StorageQuota:
    """Bytes each client may store in any hour (a sliding window)."""

    def __init__(self, bytes_per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = bytes_per_hour
        self.clock = clock
        self._ledgers: dict[str, _Ledger] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def check_room(self, keys: ClientKeys) -> None:
        """QuotaExceeded if the client has no byte left to store now; charges nothing."""
        with self._lock:
            self._refuse_unless_room(keys, 1)

    def charge(self, keys: ClientKeys, size: int) -> None:
        """Count `size` stored bytes against every key, or raise and count nothing."""
        if not self.limit or not keys:
            return
        with self._lock:
            self._refuse_unless_room(keys, size)
            now = self.clock()
            for key in keys:
                ledger = self._ledgers.setdefault(key, _Ledger())
                ledger.entries.append((now, size))
                ledger.total += size

    def stored(self, key: str) -> int:
        with self._lock:
            ledger = self._ledgers.get(key)
            if ledger is None:
                return 0
            ledger.expire(self.clock())
            return ledger.total

    def _refuse_unless_room(self, keys: ClientKeys, need: int) -> None:
        if not self.limit or not keys:
            return
        now = self.clock()
        self._sweep(now)
        waits = []
        for key in keys:
            ledger = self._ledgers.get(key) or _Ledger()
            ledger.expire(now)
            waits.append((ledger.seconds_until_room(need, self.limit, now), ledger.total))
        wait, stored = max(waits)
        if wait == 0:
            return
        if math.isinf(wait):
            raise TooLarge(
                f"This would store {mib(need)}, more than the {mib(self.limit)} one client "
                "may store per hour, so nothing was stored."
            )
        seconds = max(1, math.ceil(wait))
        needs = f" and this needs {mib(need)}" if need > 1 else ""
        raise QuotaExceeded(
            f"This client has stored {mib(stored)} of the {mib(self.limit)} it may store per "
            f"hour{needs}, so nothing was stored; try again in {seconds} seconds.",
            retry_after=seconds,
        )

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        for key in list(self._ledgers):
            self._ledgers[key].expire(now)
            if not self._ledgers[key].entries:
                del self._ledgers[key]


class FairShare:
    """At most `per_client` runs in flight per client key, so that no one client holds every
    runner while others wait."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, keys: ClientKeys) -> Iterator[None]:
        """Hold one of the client's slots for the duration; TooManyInFlight if none is free."""
        if not self.per_client or not keys:
            yield
            return
        self._take(keys)
        try:
            yield
        finally:
            self._give_back(keys)

    @contextlib.contextmanager
    def slots(self, keys: ClientKeys, wanted: int) -> Iterator[int]:
        """Hold as many of the client's free slots as it has, up to `wanted`, for the duration:
        how many (runs at several builds go that many at a time). TooManyInFlight if none is
        free."""
        if not self.per_client or not keys:
            yield wanted
            return
        granted = self._take_up_to(keys, wanted)
        try:
            yield granted
        finally:
            for _ in range(granted):
                self._give_back(keys)

    def _take_up_to(self, keys: ClientKeys, wanted: int) -> int:
        self._take(keys)  # the first, or the refusal
        granted = 1
        with self._lock:
            while granted < wanted and all(
                self._in_flight.get(key, 0) < self.per_client for key in keys
            ):
                for key in keys:
                    self._in_flight[key] += 1
                granted += 1
        return granted

    def in_flight(self, key: str) -> int:
        with self._lock:
            return self._in_flight.get(key, 0)

    def _take(self, keys: ClientKeys) -> None:
        with self._lock:
            if any(self._in_flight.get(key, 0) >= self.per_client for key in keys):
                raise TooManyInFlight(
                    f"This client already has {self.per_client} runs in progress, the most one "
                    "client may have at once; try again when one has finished.",
                    retry_after=IN_FLIGHT_RETRY_SECONDS,
                )
            for key in keys:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1

    def _give_back(self, keys: ClientKeys) -> None:
        with self._lock:
            for key in keys:
                left = self._in_flight[key] - 1
                if left:
                    self._in_flight[key] = left
                else:
                    del self._in_flight[key]


@dataclass(frozen=True)
class ClientLimits:
    """Every per-client limit, shared by runs and uploads."""

    quota: StorageQuota
    fair_share: FairShare
    max_run_bytes: int
