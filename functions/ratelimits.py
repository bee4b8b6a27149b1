"""Rate limits per client address and per user, on the `limits` library (Flask-Limiter's core).

Configured per kind of request (run, upload, name) as "N/period" strings; generous by default.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, jsonify, request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_LIMITS = {"run": "120/minute", "upload": "30/minute", "name": "60/minute"}


class RateLimits:
    def __init__(self, configured: dict[str, str]) -> None:
        self.items: dict[str, RateLimitItem] = {
            kind: parse(configured.get(kind) or default) for kind, default in DEFAULT_LIMITS.items()
        }
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, kind: str, keys: list[str]) -> int:
        """0 when every key may go on (and counts the hit), else seconds to wait."""
        item = self.items[kind]
        for key in keys:
            if not self.limiter.hit(item, kind, key):
                reset, _ = self.limiter.get_window_stats(item, kind, key)
                return max(1, math.ceil(reset - time.time()))
        return 0


def _keys() -> list[str]:
    from functions.guards import current_user

    keys = [f"addr:{request.remote_addr or 'unknown'}"]
    user = current_user()
    if user is not None:
        keys.append(f"user:{user.name}")
    return keys


def limit(kind: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            limits: RateLimits = current_app.extensions["rate_limits"]
            wait = limits.retry_after(kind, _keys())
            if wait:
                response = jsonify(error=f"Too many requests; try again in {wait} seconds.")
                response.status_code = 429
                response.headers["Retry-After"] = str(wait)
                return response
            return view(*args, **kwargs)

        return limited  # type: ignore[return-value]

    return decorate
