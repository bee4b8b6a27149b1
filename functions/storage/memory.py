"""A blob store in this process's memory (FIDDLE_BLOB_STORE=memory): for tests and trying the
service out; everything is gone when the process ends.

It keeps the contract of the other stores (functions/storage/blobstore.py): the same names are
refused, generations are positive and grow on every write (also across a delete and re-create),
and if_generation_match is checked under one lock, so of racing writers exactly one wins. Like a
GCS bucket (and unlike the local directory store) it lets "a" and "a/b" both exist.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace

from functions.storage.blobstore import (
    Blob,
    BlobInfo,
    BlobStore,
    NotFound,
    PreconditionFailed,
    validate_name,
)


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self._blobs: dict[str, Blob] = {}
        self._names: list[str] = []  # sorted, for listing by prefix
        self._generations = itertools.count(1)
        self._lock = threading.Lock()

    def read(self, name: str) -> Blob:
        validate_name(name)
        with self._lock:
            blob = self._blobs.get(name)
        if blob is None:
            raise NotFound(name)
        return replace(blob, metadata=dict(blob.metadata))

    def stat(self, name: str) -> BlobInfo:
        return _info(self.read(name))

    def write(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
        if_generation_match: int | None = None,
    ) -> int:
        validate_name(name)
        metadata = dict(metadata or {})
        _check_strings(metadata, content_type)
        with self._lock:
            self._check(name, if_generation_match)
            generation = next(self._generations)
            if name not in self._blobs:
                bisect.insort(self._names, name)
            self._blobs[name] = Blob(name, bytes(data), generation, metadata, content_type)
        return generation

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        with self._lock:
            following = itertools.islice(self._names, bisect.bisect_left(self._names, prefix), None)
            names = itertools.takewhile(lambda n: n.startswith(prefix), following)
            found = [_info(self._blobs[name]) for name in names]
        yield from found

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        validate_name(name)
        with self._lock:
            if name not in self._blobs:
                raise NotFound(name)
            self._check(name, if_generation_match)
            del self._blobs[name]
            del self._names[bisect.bisect_left(self._names, name)]

    def _check(self, name: str, expected: int | None) -> None:
        """Call with the lock held."""
        current = self._blobs[name].generation if name in self._blobs else 0
        if expected is not None and expected != current:
            raise PreconditionFailed(f"{name!r}: generation is {current}, expected {expected}")


def _info(blob: Blob) -> BlobInfo:
    return BlobInfo(
        blob.name, blob.generation, len(blob.data), dict(blob.metadata), blob.content_type
    )


def _check_strings(metadata: dict[str, str], content_type: str) -> None:
    items = [*metadata.items(), ("content_type", content_type)]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise TypeError("metadata keys and values and content_type must be strings")
