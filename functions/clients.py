"""Who a request comes from, for the per-client limits: its address, and its user when signed in
(the same keys the rate limits count by)."""

from __future__ import annotations

from flask import request

from functions.quotas import ClientKeys


def client_keys() -> ClientKeys:
    from functions.guards import current_user

    keys = [f"addr:{request.remote_addr or 'unknown'}"]
    user = current_user()
    if user is not None:
        keys.append(f"user:{user.name}")
    return tuple(keys)
