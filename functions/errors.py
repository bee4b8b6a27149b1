"""Why the service declines a request, in the domain's own terms: no HTTP status lives here.

Domain code (runs, names, source images, accounts, the per-client limits) raises these; the HTTP
layer (functions/http_errors.py) maps each class to its status in one table and writes the
answer the route's policy asks for: JSON `{"error", "fields"}` or the HTML error page, with
Retry-After when the error says when to come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self


class FiddleError(Exception):
    """One readable sentence; the reasons per request field, when the error concerns fields;
    and how many seconds to wait before trying again, when waiting helps."""

    def __init__(
        self,
        message: str,
        fields: Mapping[str, list[str]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})
        self.retry_after = retry_after

    @classmethod
    def about(cls, field: str, message: str, *, retry_after: int | None = None) -> Self:
        """An error whose sentence is also the one reason given for `field`."""
        return cls(message, {field: [message]}, retry_after=retry_after)


class InvalidInput(FiddleError):
    """The request is malformed, or asks for something that can never be done."""


class NotSignedIn(FiddleError):
    """Only a signed-in user may do this."""


class Forbidden(FiddleError):
    """This user (or this form, without its CSRF token) may not do this."""


class NotFound(FiddleError):
    """What the request names does not exist."""


class Conflict(FiddleError):
    """The request collides with what is stored (a name taken, a source image deleted)."""


class TooLarge(FiddleError):
    """The request would store more than one request may."""


class Busy(FiddleError):
    """Not now: too many requests or runs of this client, or every runner is busy."""


class QuotaExceeded(Busy):
    """The client has stored all it may store for now."""


class Unavailable(FiddleError):
    """The service cannot do this at the moment (no runner answers, say)."""


class StorageFull(FiddleError):
    """The service's storage has no room for what the request would store."""
