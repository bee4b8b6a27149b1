"""Rate limits per client address and per user, on the `limits` library (Flask-Limiter's core).

Configured per kind of request (run, upload, name) as "N/period" strings; generous by default
(functions/config.py has the defaults and the variables that set them).
These count in the memory of each process: several instances of the functions each allow the
full rate.

Failed sign-ins are limited differently (SigninLimits): counted in the document store, so every
instance sees the same counts, and checked before the password is hashed, so a refused guess
costs no argon2 work.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from functions.accounts import USERNAME_RE
from functions.config import RATE_LIMITS, SIGNIN_LIMITS
from functions.docstore.base import AlreadyExists, Conflict, Document, DocumentStore, NotFound
from functions.errors import Busy
from functions.services import services

F = TypeVar("F", bound=Callable[..., Any])
FAILURES = "signin_failures"


class RateLimits:
    def __init__(self, configured: dict[str, str], documents: DocumentStore) -> None:
        self.items: dict[str, RateLimitItem] = {
            kind: parse(configured.get(kind) or default) for kind, default in RATE_LIMITS.items()
        }
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.signin = SigninLimits(documents, configured)

    def retry_after(self, kind: str, keys: list[str]) -> int:
        """0 when every key may go on (and counts the hit), else seconds to wait."""
        item = self.items[kind]
        for key in keys:
            if not self.limiter.hit(item, kind, key):
                reset, _ = self.limiter.get_window_stats(item, kind, key)
                return max(1, math.ceil(reset - time.time()))
        return 0


# A counter (document id, window) taken by an attempt, given back if the password was right.
Counter = tuple[str, int]
# Compare-and-set rounds before an attempt on a contended counter is turned away for a second.
CAS_ATTEMPTS = 8
# Counters of past windows deleted per new counter, so the collection does not grow forever.
SWEEP_BATCH = 20


@dataclass(frozen=True)
class Admission:
    """The answer to a sign-in attempt: refused (retry_after > 0, with a sentence) or let in,
    with the failure counters it took."""

    retry_after: int = 0
    message: str = ""
    counted: tuple[Counter, ...] = field(default=())


class FailureWindows:
    """Failures per key in fixed windows of one period (starting at multiples of the period
    since the epoch), one document per key: {window, count, expires}."""

    def __init__(self, documents: DocumentStore, scope: str, item: RateLimitItem) -> None:
        self.documents, self.scope, self.item = documents, scope, item

    def admit(self, key: str, now: float) -> tuple[int, Counter | None]:
        """(0, counter) when key may try once more (now counted), else (seconds to wait, None)."""
        period = self.item.get_expiry()
        window = int(now // period)
        wait = max(1, math.ceil((window + 1) * period - now))
        doc_id = f"{self.scope}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
        for _ in range(CAS_ATTEMPTS):
            current = self.documents.get(FAILURES, doc_id)
            count = _count_in(current, window)
            if count >= self.item.amount:
                return wait, None  # only read: a flood of refused guesses writes nothing
            record = {"window": window, "count": count + 1, "expires": (window + 1) * period}
            try:
                if current is None:
                    self.documents.create(FAILURES, doc_id, record)
                    _sweep(self.documents, now)
                else:
                    self.documents.update(FAILURES, doc_id, record, if_version=current.version)
            except (AlreadyExists, Conflict, NotFound):
                continue  # another attempt on the same key wrote first: count again
            return 0, (doc_id, window)
        return 1, None


def forgive(documents: DocumentStore, counter: Counter) -> None:
    """Take back one failure, unless its window has passed (then it no longer counts anyway)."""
    doc_id, window = counter
    for _ in range(CAS_ATTEMPTS):
        current = documents.get(FAILURES, doc_id)
        count = _count_in(current, window)
        if current is None or count <= 0:
            return
        try:
            if count == 1:
                documents.delete(FAILURES, doc_id, if_version=current.version)
            else:
                documents.update(FAILURES, doc_id, {"count": count - 1}, if_version=current.version)
            return
        except (Conflict, NotFound):
            continue


def _count_in(document: Document | None, window: int) -> int:
    if document is None or document.data.get("window") != window:
        return 0
    return int(document.data.get("count", 0))


def _sweep(documents: DocumentStore, now: float) -> None:
    for document in documents.query(FAILURES, where=[("expires", "<", now)], limit=SWEEP_BATCH):
        try:
            documents.delete(FAILURES, document.id, if_version=document.version)
        except (Conflict, NotFound):
            pass  # counted again, or swept by another instance


class SigninLimits:
    def __init__(self, documents: DocumentStore, configured: dict[str, str]) -> None:
        def window(kind: str) -> FailureWindows:
            item = parse(configured.get(kind) or SIGNIN_LIMITS[kind])
            return FailureWindows(documents, kind, item)

        self.documents = documents
        self.client, self.account = window("signin_client"), window("signin_account")
        # Seconds since the epoch; windows start at multiples of their period, on every instance.
        self.clock: Callable[[], float] = time.time

    def admit(self, client: str, account: str) -> Admission:
        """Call before the password is hashed; counts the attempt as failed until forgive()."""
        now = self.clock()
        wait, client_counter = self.client.admit(client, now)
        if client_counter is None:
            return Admission(wait, _too_many("from your address", wait))
        if not USERNAME_RE.fullmatch(account):
            return Admission(counted=(client_counter,))  # no such account can exist
        wait, account_counter = self.account.admit(account, now)
        if account_counter is None:
            forgive(self.documents, client_counter)  # no password was checked
            return Admission(wait, _too_many("to this account", wait))
        return Admission(counted=(client_counter, account_counter))

    def forgive(self, admission: Admission) -> None:
        """The attempt was not a failure: the password was right."""
        for counter in admission.counted:
            forgive(self.documents, counter)


def _too_many(where: str, wait: int) -> str:
    return f"Too many failed sign-ins {where}; try again in {wait} seconds."


def _keys() -> list[str]:
    from functions.clients import client_keys

    return list(client_keys())


def limit(kind: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            wait = services().rate_limits.retry_after(kind, _keys())
            if wait:
                raise Busy(f"Too many requests; try again in {wait} seconds.", retry_after=wait)
            return view(*args, **kwargs)

        return limited  # type: ignore[return-value]

    return decorate
