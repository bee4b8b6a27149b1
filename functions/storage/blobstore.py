"""The blob-store interface: every backend (a local directory, Google Cloud Storage) implements it.

Object names are slash-separated, as in GCS. Each object has a generation: a positive integer that
changes on every write, so a writer can say "only if nobody wrote since I read"
(if_generation_match).
A generation of 0 in a precondition means "the object must not exist yet".
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

# One path segment: no empty segments, no '.' or '..', no backslashes or control characters.
_SEGMENT = re.compile(r"^(?!\.{1,2}$)[^/\\\x00-\x1f\x7f]+$")


class BlobStoreError(Exception):
    """Base class of every error a blob store raises."""


class NotFound(BlobStoreError):
    """The object does not exist."""


class PreconditionFailed(BlobStoreError):
    """The object's generation did not match the one the writer required."""


class InvalidName(BlobStoreError):
    """The object name could escape the store or is otherwise malformed."""


class StorageUnavailable(BlobStoreError):
    """The backend cannot be reached or failed to answer; the same call may work later. A write
    that raised this may or may not have happened (every write is whole or absent)."""


class StorageFull(StorageUnavailable):
    """The backend has no room left for the write (a full disk, a quota); nothing was written."""


@dataclass(frozen=True)
class Blob:
    name: str
    data: bytes
    generation: int
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class BlobInfo:
    """What a listing returns: everything but the data."""

    name: str
    generation: int
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


def validate_name(name: str) -> str:
    """Return the name unchanged if it is a safe object name, else raise InvalidName."""
    if not name or len(name) > 1024:
        raise InvalidName("object names must be 1 to 1024 characters long")
    if not all(_SEGMENT.match(part) for part in name.split("/")):
        raise InvalidName(f"invalid object name: {name!r}")
    return name


class BlobStore(ABC):
    """Code, outputs, source images and named links live here."""

    @abstractmethod
    def read(self, name: str) -> Blob:
        """Return the object with its generation and metadata; raise NotFound."""

    @abstractmethod
    def stat(self, name: str) -> BlobInfo:
        """Return the object's generation and metadata without its data; raise NotFound."""

    @abstractmethod
    def write(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
        if_generation_match: int | None = None,
    ) -> int:
        """Write atomically and return the new generation.

        With if_generation_match, raise PreconditionFailed unless the current generation equals it
        (0: the object must not exist).
        """

    @abstractmethod
    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Yield the objects whose names start with prefix, sorted by name."""

    @abstractmethod
    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object; raise NotFound or PreconditionFailed."""

    def exists(self, name: str) -> bool:
        try:
            self.stat(name)
        except NotFound:
            return False
        return True
