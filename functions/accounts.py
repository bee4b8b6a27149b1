"""Users, roles, sign-in sessions and API tokens, kept in the document store.

Passwords are hashed with argon2; session ids and API tokens are random and only their SHA-256 is
stored, so a leaked database gives away none of them. A session is valid while its document
exists, has not expired and was made under the user's current password: signing out deletes it;
changing the password or removing the user ends every session of that user.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from functions.docstore.base import AlreadyExists, DocumentStore, NotFound
from functions.errors import InvalidInput

USERS = "users"
TOKENS = "tokens"
SESSIONS = "sessions"
# A session ends this long after sign-in even if nobody signs out.
SESSION_LIFETIME_SECONDS = 30 * 24 * 3600
MAX_SECRET_LENGTH = 200
ROLES = ("user", "admin")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_PASSWORD_LENGTH = 8


class AccountError(InvalidInput):
    """A request about accounts that cannot be honoured; the message is one sentence."""


@dataclass(frozen=True)
class User:
    name: str
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Accounts:
    def __init__(self, documents: DocumentStore) -> None:
        self.documents = documents
        self.hasher = PasswordHasher()
        self._dummy_hash = ""

    def create_user(self, name: str, password: str, *, admin: bool = False) -> User:
        if not USERNAME_RE.fullmatch(name):
            raise AccountError("User names are 1 to 64 letters, digits, '.', '_' or '-'.")
        _check_password(password)
        role = "admin" if admin else "user"
        record = {"password": self.hasher.hash(password), "role": role, "created": time.time()}
        try:
            self.documents.create(USERS, name, record)
        except AlreadyExists:
            raise AccountError(f"The user {name} already exists.") from None
        return User(name, role)

    def get(self, name: str) -> User | None:
        if not USERNAME_RE.fullmatch(name):
            return None
        document = self.documents.get(USERS, name)
        return User(name, document.data.get("role", "user")) if document else None

    def verify_password(self, name: str, password: str) -> User | None:
        document = self.documents.get(USERS, name) if USERNAME_RE.fullmatch(name) else None
        if document is None:
            # Spend the same time as a real check, so timing does not tell which names exist.
            self._burn(password)
            return None
        try:
            self.hasher.verify(document.data["password"], password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, document.data.get("role", "user"))

    def _burn(self, password: str) -> None:
        self._dummy_hash = self._dummy_hash or self.hasher.hash(secrets.token_hex(16))
        try:
            self.hasher.verify(self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            pass

    def set_password(self, name: str, password: str) -> int:
        """Replace the user's password; returns how many sessions that ended."""
        _check_password(password)
        if self.get(name) is None:
            raise AccountError(f"There is no user {name}.")
        try:
            self.documents.update(USERS, name, {"password": self.hasher.hash(password)})
        except NotFound:
            raise AccountError(f"There is no user {name}.") from None
        return self._delete_all(SESSIONS, name)

    def remove_user(self, name: str) -> tuple[int, int]:
        """Delete the user, then every session and API token of theirs; returns how many of each.
        Run again, it sweeps what an interrupted removal left. A session or token the sweep
        misses still fails: it names a user that no longer exists."""
        if not USERNAME_RE.fullmatch(name):
            raise AccountError(f"There is no user {name}.")
        existed = True
        try:
            self.documents.delete(USERS, name)
        except NotFound:
            existed = False
        swept = self._delete_all(SESSIONS, name), self._delete_all(TOKENS, name)
        if not existed and swept == (0, 0):
            raise AccountError(f"There is no user {name}.")
        return swept

    def start_session(self, user: User) -> str:
        """A new session id for user, stored (as its hash) until sign-out or expiry."""
        document = self.documents.get(USERS, user.name)
        if document is None:
            raise AccountError(f"There is no user {user.name}.")
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        record = {
            "user": user.name,
            "credential": _fingerprint(document.data["password"]),
            "created": now,
            "expires": now + SESSION_LIFETIME_SECONDS,
        }
        self.documents.create(SESSIONS, _secret_id(session_id), record)
        self._delete_expired_sessions(user.name, now)
        return session_id

    def user_for_session(self, session_id: str, name: str) -> User | None:
        if not session_id or len(session_id) > MAX_SECRET_LENGTH or not USERNAME_RE.fullmatch(name):
            return None
        session = self.documents.get(SESSIONS, _secret_id(session_id))
        if session is None or session.data.get("user") != name:
            return None
        if session.data.get("expires", 0) < time.time():
            self.end_session(session_id)
            return None
        document = self.documents.get(USERS, name)
        if document is None:
            return None
        if _fingerprint(document.data["password"]) != session.data.get("credential"):
            return None  # made under a password that has since changed
        return User(name, document.data.get("role", "user"))

    def end_session(self, session_id: str) -> None:
        if session_id and len(session_id) <= MAX_SECRET_LENGTH:
            _delete_quietly(self.documents, SESSIONS, _secret_id(session_id))

    def _delete_all(self, collection: str, name: str) -> int:
        found = self.documents.query(collection, where=[("user", "==", name)])
        for document in found:
            _delete_quietly(self.documents, collection, document.id)
        return len(found)

    def _delete_expired_sessions(self, name: str, now: float) -> None:
        for document in self.documents.query(SESSIONS, where=[("user", "==", name)]):
            if document.data.get("expires", 0) < now:
                _delete_quietly(self.documents, SESSIONS, document.id)

    def create_token(self, name: str, label: str = "") -> str:
        if self.get(name) is None:
            raise AccountError(f"There is no user {name}.")
        token = "fdl_" + secrets.token_urlsafe(32)
        record = {"user": name, "label": label, "created": time.time()}
        self.documents.create(TOKENS, _secret_id(token), record)
        return token

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith("fdl_") or len(token) > MAX_SECRET_LENGTH:
            return None
        document = self.documents.get(TOKENS, _secret_id(token))
        return self.get(document.data["user"]) if document else None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters.")


def _secret_id(secret: str) -> str:
    """The document id of a token or session id: its SHA-256, never the secret itself."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _fingerprint(password_hash: str) -> str:
    """Names one password of a user (a new one has a new salt) without storing its hash again."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _delete_quietly(documents: DocumentStore, collection: str, doc_id: str) -> None:
    try:
        documents.delete(collection, doc_id)
    except NotFound:
        pass  # someone else removed it first; the outcome is the same
