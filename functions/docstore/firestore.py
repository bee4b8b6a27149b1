"""The Google Cloud document store: Firestore (native mode) through google-cloud-firestore.

Collection `c` is the top-level Firestore collection `prefix + c`. A document's version is its
update time as an RFC 3339 string (microseconds): Firestore changes it on every write and checks
it for us with a `last_update_time` precondition, so optimistic concurrency needs no transaction.
No method uses transactions: under contention the emulator's transactions stall on lock timeouts,
while create() (exists=False) and update-time preconditions are atomic single writes,
correct in the emulator and in production alike.

The client honours FIRESTORE_EMULATOR_HOST (and needs no credentials then).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.api_core import retry
from google.cloud import firestore
from google.cloud.firestore_v1.field_path import FieldPath
from proto.datetime_helpers import DatetimeWithNanoseconds

from functions.docstore.base import (
    AlreadyExists,
    Conflict,
    DocStoreError,
    DocStoreUnavailable,
    Document,
    DocumentStore,
    InvalidArgument,
    NotFound,
    Where,
    check_collection,
    check_data,
    check_id,
    check_query,
    check_version,
)

# One attempt's deadline, and how long a call keeps retrying what may pass (Firestore or its
# emulator restarting, a network blip) before the service answers 503. Without a retry of its
# own, the client library's default keeps retrying an unreachable Firestore for 300 s, whatever
# the timeout, while the request that asked waits.
CALL_TIMEOUT_SECONDS = 10.0
RETRY_SECONDS = 10.0
# What a Firestore outage looks like (the emulator or the service restarting, a network cut):
# the call may work later, so the service answers 503 instead of failing.
_TRANSIENT = (
    google_exceptions.ServiceUnavailable,
    google_exceptions.DeadlineExceeded,
    google_exceptions.InternalServerError,
    google_exceptions.Aborted,
    google_exceptions.ResourceExhausted,
)


@contextmanager
def _vendor_errors(what: str, *, query: bool = False) -> Iterator[None]:
    """Turn google-cloud errors into ours (AlreadyExists first: it is a kind of their Conflict)."""
    try:
        yield
    except google_exceptions.AlreadyExists as error:
        raise AlreadyExists(f"{what} exists") from error
    except google_exceptions.NotFound as error:
        raise NotFound(f"{what} does not exist") from error
    except google_exceptions.FailedPrecondition as error:
        if query:  # e.g. "The query requires an index" in production
            raise DocStoreError(f"{what}: {error.message}") from error
        raise Conflict(f"{what} was written since (or is gone): {error.message}") from error
    except google_exceptions.InvalidArgument as error:
        raise InvalidArgument(f"{what}: {error.message}") from error
    except _TRANSIENT as error:
        raise DocStoreUnavailable(f"{what}: {error}") from error
    except google_exceptions.GoogleAPICallError as error:
        raise DocStoreError(f"{what}: {error}") from error
    except google_exceptions.RetryError as error:
        raise DocStoreUnavailable(f"{what}: gave up: {error}") from error


_RETRY = retry.Retry(
    predicate=retry.if_exception_type(*_TRANSIENT),
    initial=0.1,
    maximum=2.0,
    multiplier=2.0,
    timeout=RETRY_SECONDS,
)
_CALL: dict[str, Any] = {"retry": _RETRY, "timeout": CALL_TIMEOUT_SECONDS}


def _version(timestamp: Any) -> str:
    # (proto-plus's DatetimeWithNanoseconds, a twin of google.api_core's)
    rfc3339 = getattr(timestamp, "rfc3339", None)
    if rfc3339 is None:
        raise DocStoreError(f"Firestore returned no update time ({timestamp!r})")
    return str(rfc3339())


def _parse_version(version: str) -> DatetimeWithNanoseconds | None:
    try:
        return DatetimeWithNanoseconds.from_rfc3339(version)
    except ValueError:
        return None


# An update time no document has (Firestore's are of the writes' commit times).
_NEVER = DatetimeWithNanoseconds.from_rfc3339("1970-01-01T00:00:00.000001Z")


class FirestoreDocumentStore(DocumentStore):
    def __init__(self, client: firestore.Client | None = None, prefix: str = "") -> None:
        if prefix:
            check_collection(prefix + "x")
        self.client = client if client is not None else firestore.Client()
        self.prefix = prefix

    def _ref(self, collection: str, doc_id: str) -> Any:
        check_collection(collection)
        check_id(doc_id)
        return self.client.collection(self.prefix + collection).document(doc_id)

    def close(self) -> None:
        self.client.close()

    def get(self, collection: str, doc_id: str) -> Document | None:
        ref = self._ref(collection, doc_id)
        with _vendor_errors(f"{collection}/{doc_id}"):
            snapshot = ref.get(**_CALL)
        if not snapshot.exists:
            return None
        return Document(doc_id, snapshot.to_dict() or {}, _version(snapshot.update_time))

    def create(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        ref = self._ref(collection, doc_id)
        copy = check_data(data)
        with _vendor_errors(f"{collection}/{doc_id}"):
            result = ref.create(copy, **_CALL)
        return Document(doc_id, copy, _version(result.update_time))

    def put(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        ref = self._ref(collection, doc_id)
        copy = check_data(data)
        with _vendor_errors(f"{collection}/{doc_id}"):
            result = ref.set(copy, **_CALL)
        return Document(doc_id, copy, _version(result.update_time))

    def update(
        self,
        collection: str,
        doc_id: str,
        data: Mapping[str, Any],
        *,
        if_version: str | None = None,
    ) -> Document:
        ref = self._ref(collection, doc_id)
        fields = check_data(data)
        check_version(if_version)
        if not fields:
            raise InvalidArgument("update() needs at least one field")
        # update() reads its keys as field paths ("a.b" is b inside a): quote them so each key is
        # one top-level field, replaced whole.
        quoted = {FieldPath(key).to_api_repr(): value for key, value in fields.items()}
        # update() itself requires the document to exist; the option adds the version check.
        option = None if if_version is None else self._precondition(collection, doc_id, if_version)
        with self._preconditioned(collection, doc_id, if_version):
            result = ref.update(quoted, option=option, **_CALL)
        # The write returns only its time; read the document as of that time (one more call, no
        # transaction), so the answer is exactly what this write produced.
        with _vendor_errors(f"{collection}/{doc_id}"):
            snapshot = ref.get(read_time=result.update_time, **_CALL)
        if not snapshot.exists:  # pragma: no cover - Firestore keeps an hour of history
            raise DocStoreError(f"{collection}/{doc_id}: cannot read back the update")
        return Document(doc_id, snapshot.to_dict() or {}, _version(result.update_time))

    def delete(self, collection: str, doc_id: str, *, if_version: str | None = None) -> None:
        ref = self._ref(collection, doc_id)
        check_version(if_version)
        option = self._precondition(collection, doc_id, if_version)
        with self._preconditioned(collection, doc_id, if_version):
            ref.delete(option=option, **_CALL)

    def _precondition(self, collection: str, doc_id: str, if_version: str | None) -> Any:
        if if_version is None:
            return self.client.write_option(exists=True)
        # A string that is no version of ours cannot match: let Firestore fail the precondition
        # (so a missing document still gives NotFound).
        when = _parse_version(if_version) or _NEVER
        return self.client.write_option(last_update_time=when)

    @contextmanager
    def _preconditioned(
        self, collection: str, doc_id: str, if_version: str | None
    ) -> Iterator[None]:
        """Firestore answers a failed update-time precondition with FAILED_PRECONDITION both for
        a changed and for a missing document; tell the two apart by looking."""
        try:
            with _vendor_errors(f"{collection}/{doc_id}"):
                yield
        except Conflict:
            if if_version is not None and self.get(collection, doc_id) is None:
                raise NotFound(f"{collection}/{doc_id} does not exist") from None
            raise

    def query(
        self,
        collection: str,
        *,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        check_collection(collection)
        filters = check_query(where, order_by, descending, limit)
        query: Any = self.client.collection(self.prefix + collection)
        for field, op, value in filters:
            query = query.where(filter=firestore.FieldFilter(field, op, value))
        direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
        # Firestore orders ties by id in the direction of the last order_by, and everything by
        # id ascending without one.
        if order_by is not None:
            query = query.order_by(order_by, direction=direction)
        if limit is not None:
            query = query.limit(limit)
        with _vendor_errors(f"query of {collection}", query=True):
            snapshots = list(query.stream(**_CALL))
        return [
            Document(snapshot.id, snapshot.to_dict() or {}, _version(snapshot.update_time))
            for snapshot in snapshots
        ]
