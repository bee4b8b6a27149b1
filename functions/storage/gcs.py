"""A blob store in a Google Cloud Storage bucket.

Object names, metadata and content types map one to one onto GCS objects; a blob's generation is the
GCS generation, so if_generation_match is the bucket's own precondition and holds across every
process and machine writing to the bucket.

With STORAGE_EMULATOR_HOST set (fake-gcs-server in the tests), the client talks to the emulator
(`storage_client`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

import google.cloud.storage as storage
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY

from functions.storage.blobstore import (
    Blob,
    BlobInfo,
    BlobStore,
    BlobStoreError,
    InvalidName,
    NotFound,
    PreconditionFailed,
    StorageUnavailable,
    validate_name,
)

_DEFAULT_CONTENT_TYPE = "application/octet-stream"
# A read fetches metadata, then the data of exactly that generation; a writer in between makes the
# second request miss, and the read starts over after a short random pause (so that readers of a
# hot object, such as source/lastid.txt, do not keep colliding with its writers).
_READ_ATTEMPTS = 50
_READ_BACKOFF_SECONDS = 0.001
_READ_BACKOFF_MAX_SECONDS = 0.05
_MESSAGE_LIMIT = 200
# How long one call keeps retrying what may pass (a connection refused, a 5xx, a 429) before it
# gives up and the service answers 503. The library's default is 120 s, longer than a client
# or Cloud Functions waits; a restart or a network blip of a few seconds is still ridden out.
RETRY_SECONDS = 10.0
_RETRY = DEFAULT_RETRY.with_timeout(RETRY_SECONDS)
# Each request's own (connect, read) timeouts: a bucket that accepts and never answers must not
# hold a request for the library's 60 s.
_TIMEOUT = (5.0, 30.0)
_CALL = {"retry": _RETRY, "timeout": _TIMEOUT}


def storage_client(emulator_host: str = "") -> storage.Client:
    """A client for Cloud Storage with the default credentials, or for its emulator when one is
    set (Settings.storage_emulator_host, from STORAGE_EMULATOR_HOST).

    The client library sends its requests to STORAGE_EMULATOR_HOST by itself, and current versions
    already fall back to anonymous credentials there; saying so explicitly keeps any version from
    looking for real credentials or a project on a machine that has neither.
    """
    if emulator_host:
        return storage.Client(project=None, credentials=AnonymousCredentials())
    return storage.Client()


class GcsBlobStore(BlobStore):
    """Objects in one bucket; every precondition is checked by GCS itself."""

    def __init__(self, bucket_name: str, client: storage.Client | None = None) -> None:
        if not bucket_name:
            raise ValueError("a GCS blob store needs a bucket name (FIDDLE_BUCKET)")
        self._client = client if client is not None else storage_client()
        self._bucket = self._client.bucket(bucket_name)

    @property
    def bucket_name(self) -> str:
        return str(self._bucket.name)

    def read(self, name: str) -> Blob:
        validate_name(name)
        for attempt in range(_READ_ATTEMPTS):
            if attempt:
                pause = min(_READ_BACKOFF_MAX_SECONDS, _READ_BACKOFF_SECONDS * 2**attempt)
                time.sleep(random.uniform(0, pause))
            info = self.stat(name)
            pinned = self._bucket.blob(name, generation=info.generation)
            try:
                with _translated(name):
                    data = pinned.download_as_bytes(**_CALL)
            except NotFound:
                continue  # replaced or deleted since stat: read the current object, if any
            return Blob(name, data, info.generation, info.metadata, info.content_type)
        raise BlobStoreError(f"{name!r} changed on every one of {_READ_ATTEMPTS} reads")

    def stat(self, name: str) -> BlobInfo:
        validate_name(name)
        with _translated(name):
            blob = self._bucket.get_blob(name, **_CALL)
        if blob is None:
            raise NotFound(name)
        return _info(blob)

    def write(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = _DEFAULT_CONTENT_TYPE,
        if_generation_match: int | None = None,
    ) -> int:
        validate_name(name)
        metadata = metadata or {}
        items = [*metadata.items(), ("content_type", content_type)]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
            raise TypeError("metadata keys and values and content_type must be strings")
        blob = self._bucket.blob(name)
        # None, not {}: an upload creates a new object, so the old metadata never carries over.
        blob.metadata = dict(metadata) or None
        try:
            with _translated(name):
                blob.upload_from_string(
                    data,
                    content_type=content_type,
                    if_generation_match=if_generation_match,
                    **_CALL,
                )
        except NotFound:
            raise BlobStoreError(f"bucket {self.bucket_name!r} not found") from None
        return int(blob.generation)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        # GCS lists in lexicographic order of the names' UTF-8 bytes, which is Python's str order.
        with _translated(prefix):
            for blob in self._client.list_blobs(self._bucket, prefix=prefix, **_CALL):
                try:
                    validate_name(blob.name)
                except InvalidName:
                    continue  # put there by something else: not an object this store could name
                yield _info(blob)

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        validate_name(name)
        with _translated(name):
            self._bucket.blob(name).delete(if_generation_match=if_generation_match, **_CALL)


# Answers that say "not now": the bucket may take the same call later.
_TRANSIENT = (
    gexc.ServerError,
    gexc.TooManyRequests,
)


def _info(blob: storage.Blob) -> BlobInfo:
    return BlobInfo(
        name=blob.name,
        generation=int(blob.generation),
        size=int(blob.size or 0),
        metadata=dict(blob.metadata or {}),
        content_type=blob.content_type or _DEFAULT_CONTENT_TYPE,
    )


@contextlib.contextmanager
def _translated(name: str) -> Iterator[None]:
    """Turn the client's errors into the blob store's."""
    try:
        yield
    except gexc.PreconditionFailed:
        raise PreconditionFailed(f"{name!r}: generation precondition failed") from None
    except gexc.NotFound:
        raise NotFound(name) from None
    except _TRANSIENT as e:
        raise StorageUnavailable(f"GCS error on {name!r}: {e.code} {_short(e.message)}") from e
    except gexc.GoogleAPICallError as e:
        raise BlobStoreError(f"GCS error on {name!r}: {e.code} {_short(e.message)}") from e
    except (gexc.RetryError, requests.RequestException, DataCorruption) as e:
        raise StorageUnavailable(f"GCS error on {name!r}: {_short(str(e))}") from e
    except (gexc.GoogleAPIError, GoogleAuthError) as e:
        raise BlobStoreError(f"GCS error on {name!r}: {_short(str(e))}") from e


def _short(message: object) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."
