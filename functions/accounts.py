"""Users, roles and API tokens, kept in the document store.

Passwords are hashed with argon2; API tokens are random and only their SHA-256 is stored, so a
leaked database gives away neither.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from functions.docstore.base import AlreadyExists, DocumentStore

USERS = "users"
TOKENS = "tokens"
ROLES = ("user", "admin")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
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
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters.")
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

    def create_token(self, name: str, label: str = "") -> str:
        if self.get(name) is None:
            raise AccountError(f"There is no user {name}.")
        token = "fdl_" + secrets.token_urlsafe(32)
        record = {"user": name, "label": label, "created": time.time()}
        self.documents.create(TOKENS, _token_id(token), record)
        return token

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith("fdl_") or len(token) > 200:
            return None
        document = self.documents.get(TOKENS, _token_id(token))
        return self.get(document.data["user"]) if document else None


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
