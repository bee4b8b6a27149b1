"""Authenticating the functions to a runner: an HMAC of the body with a shared secret (local and
self-hosted), or a Google ID token for the runner's audience (on Google Cloud).

The functions sign (functions/app.py makes the signer) and each runner verifies (runner_vm/cli.py
makes the verifier): both live here because they must agree byte for byte. Neither needs storage
or sandbox code.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Fiddle-Timestamp"
SIGNATURE_HEADER = "X-Fiddle-Signature"
MAX_SKEW_SECONDS = 300


class Signer(ABC):
    @abstractmethod
    def headers(self, body: bytes) -> dict[str, str]:
        """Headers that prove the request comes from the functions."""


class Verifier(ABC):
    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, remote_addr: str) -> bool:
        """Whether the request may run code."""


def header(headers: Mapping[str, str], name: str) -> str:
    """Header names are case-insensitive, whatever a proxy on the way did to them."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")


def _mac(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class HmacSigner(Signer):
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: _mac(self.secret, timestamp, body)}


class HmacVerifier(Verifier):
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def verify(self, headers: Mapping[str, str], body: bytes, remote_addr: str) -> bool:
        timestamp, signature = header(headers, TIMESTAMP_HEADER), header(headers, SIGNATURE_HEADER)
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            return False
        return hmac.compare_digest(_mac(self.secret, timestamp, body), signature)


class GoogleIdTokenSigner(Signer):
    """Fetches (and reuses until near expiry) an ID token from the metadata server."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def headers(self, body: bytes) -> dict[str, str]:
        with self._lock:
            if time.time() > self._expires - 300:
                import google.auth.transport.requests
                import google.oauth2.id_token

                request = google.auth.transport.requests.Request()
                self._token = google.oauth2.id_token.fetch_id_token(request, self.audience)
                self._expires = time.time() + 3000
            return {"Authorization": f"Bearer {self._token}"}


class GoogleIdTokenVerifier(Verifier):
    """Accepts ID tokens for this runner's audience, and (when set) only those of one caller:
    any Google account can mint a token for any audience, so the e-mail must be checked too."""

    def __init__(self, audience: str, caller: str = "") -> None:
        self.audience = audience
        self.caller = caller

    def verify(self, headers: Mapping[str, str], body: bytes, remote_addr: str) -> bool:
        import google.auth.transport.requests
        import google.oauth2.id_token

        scheme, _, token = header(headers, "Authorization").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        try:
            claims = google.oauth2.id_token.verify_oauth2_token(
                token, google.auth.transport.requests.Request(), audience=self.audience
            )
        except ValueError:
            return False
        return not self.caller or (
            claims.get("email") == self.caller and bool(claims.get("email_verified"))
        )


class LoopbackOnly(Verifier):
    """No credentials configured: only processes on this machine may ask (development)."""

    def verify(self, headers: Mapping[str, str], body: bytes, remote_addr: str) -> bool:
        return remote_addr in ("127.0.0.1", "::1")


class NoSigner(Signer):
    def headers(self, body: bytes) -> dict[str, str]:
        return {}


def make_signer(secret: str, audience: str) -> Signer:
    if audience:
        return GoogleIdTokenSigner(audience)
    return HmacSigner(secret) if secret else NoSigner()


def make_verifier(secret: str, audience: str, caller: str = "") -> Verifier:
    if audience:
        return GoogleIdTokenVerifier(audience, caller)
    return HmacVerifier(secret) if secret else LoopbackOnly()
