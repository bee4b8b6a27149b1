"""Who is asking: one interface, with providers for session cookies and API tokens.

Google sign-in fits behind the same interface: a provider that verifies a Google ID token
(google.oauth2.id_token.verify_oauth2_token) and maps its e-mail address to a user.
"""

from __future__ import annotations

import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence

from flask import Request, session

from functions.accounts import Accounts, User

SESSION_USER = "user"
# The server-side session this cookie belongs to (Accounts.start_session); without a valid one
# the cookie identifies nobody, so signing out elsewhere or a password change takes effect.
SESSION_ID = "sid"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class IdentityProvider(ABC):
    @abstractmethod
    def identify(self, request: Request) -> User | None:
        """The signed-in user making this request, or None."""

    # Requests identified by a cookie need a CSRF token; bearer tokens cannot be sent by another
    # site's form, so they do not.
    needs_csrf = False


class SessionIdentity(IdentityProvider):
    needs_csrf = True

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    def identify(self, request: Request) -> User | None:
        name, session_id = session.get(SESSION_USER), session.get(SESSION_ID)
        if not isinstance(name, str):
            return None
        user = None
        if isinstance(session_id, str):
            user = self.accounts.user_for_session(session_id, name)
        if user is None:
            # Revoked, expired or from before sessions were stored: forget it, so the browser
            # stops sending a dead session.
            session.pop(SESSION_USER, None)
            session.pop(SESSION_ID, None)
        return user


class BearerTokenIdentity(IdentityProvider):
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    def identify(self, request: Request) -> User | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self.accounts.user_for_token(token.strip())


def identify(providers: Sequence[IdentityProvider], request: Request) -> tuple[User | None, bool]:
    """The user and whether the request must carry a CSRF token."""
    for provider in providers:
        user = provider.identify(request)
        if user is not None:
            return user, provider.needs_csrf
    return None, False


def csrf_token() -> str:
    token = session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return token


def csrf_valid(request: Request) -> bool:
    expected = session.get(SESSION_CSRF)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not sent:
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may carry any.
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogateescape"))
