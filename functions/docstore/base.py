"""The document-store interface: every backend (SQLite on this machine, Firestore on Google Cloud)
implements it, and one contract test suite holds them to the same behaviour.

A document lives at (collection, id) and holds JSON-like data: a dict with string keys whose values
are str, int (64-bit), float (finite), bool, None, lists and dicts (a list may not directly contain
a list, as in Firestore). Every write that changes a document gives it a new version: an opaque
string that only ever names one state of one document, so a writer can say "only if nobody changed
it since I read" (if_version). A write that changes nothing keeps the version (Firestore keeps the
update time). Versions are never reused, not even after a delete and re-create.

Concurrency: create() has exactly one winner; update()/delete() with if_version are optimistic
compare-and-set (a counter is read, then written back with if_version, retried on Conflict).
There are no multi-document transactions on purpose: they stall under contention on the
Firestore emulator, and every use here fits in one document.

The interface holds what its callers use, and no more: query filters compare by equality, and
by "<" (sweeping expired sign-in counters).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import string
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# The comparison operators of query(): Firestore's names for the ones callers use.
Op = Literal["==", "<"]
OPS: frozenset[str] = frozenset({"==", "<"})
Where = tuple[str, str, Any]

MAX_ID_BYTES = 1500  # Firestore's limit for document ids and field names.
# Firestore refuses documents over 1 MiB (its own size measure); JSON text is a close, stricter
# stand-in, so both backends refuse the same documents in practice.
MAX_DOCUMENT_BYTES = 1_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_COLLECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
_RESERVED = re.compile(r"^__.*__$", re.DOTALL)
# Fields named in queries: dotted paths of identifiers ("a.b" is field b of map a).
_FIELD_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AUTO_ID_ALPHABET = string.ascii_letters + string.digits


class DocStoreError(Exception):
    """Base class of every error a document store raises."""


class DocStoreUnavailable(DocStoreError):
    """The backend cannot be reached or failed to answer; the same call may work later."""


class DocStoreFull(DocStoreUnavailable):
    """The backend has no room left for the write (a full disk); nothing was written."""


class InvalidArgument(DocStoreError, ValueError):
    """A malformed collection, id, field, value or query."""


class AlreadyExists(DocStoreError):
    """create() of a document that exists."""


class NotFound(DocStoreError):
    """The document does not exist."""


class Conflict(DocStoreError):
    """The document's version is not the one the writer required (someone wrote since)."""


@dataclass(frozen=True)
class Document:
    id: str
    data: dict[str, Any]
    # Opaque; compare only for equality, and only versions of the same document.
    version: str


class DocumentStore(ABC):
    """Users, API tokens, named fiddles, the source-image index, the audit log and jobs."""

    @abstractmethod
    def get(self, collection: str, doc_id: str) -> Document | None:
        """Return the document, or None if it does not exist."""

    @abstractmethod
    def create(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        """Write a new document; raise AlreadyExists if it exists (of racing creators, one wins)."""

    @abstractmethod
    def put(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        """Create or replace the document, unconditionally."""

    @abstractmethod
    def update(
        self,
        collection: str,
        doc_id: str,
        data: Mapping[str, Any],
        *,
        if_version: str | None = None,
    ) -> Document:
        """Set the given top-level fields (each replaced whole; other fields are kept) and return
        the document as written. Raise NotFound if it does not exist, Conflict if if_version is
        given and is not the document's current version."""

    @abstractmethod
    def delete(self, collection: str, doc_id: str, *, if_version: str | None = None) -> None:
        """Delete the document; raise NotFound, or Conflict as for update()."""

    @abstractmethod
    def query(
        self,
        collection: str,
        *,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Return the documents matching every (field, op, value) filter.

        Fields are dotted paths of identifiers. Ops: "==" (str, number, bool or None) and "<"
        (str or number). Comparisons are typed as in Firestore: a number never matches a string
        or a bool, and documents without the field never match.

        Without order_by, documents come by id, ascending (descending needs order_by), unless a
        "<" filter is given: then in no promised order (Firestore orders by that field). With
        order_by, documents without that field are left out (as in Firestore), values of different
        types sort null < bool < number < str < list < dict, and ties go by id in the same
        direction. (Firestore needs a composite index for a filter on one field ordered by
        another.)
        """

    def add(self, collection: str, data: Mapping[str, Any]) -> Document:
        """Create a document under a new random id (20 letters and digits, like Firestore's).

        Ids carry no order: give the data a time field and query with order_by on it.
        """
        while True:
            try:
                return self.create(collection, new_id(), data)
            except AlreadyExists:  # pragma: no cover - 62**20 ids
                continue

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def new_id() -> str:
    return "".join(secrets.choice(_AUTO_ID_ALPHABET) for _ in range(20))


# --- validation shared by every backend, so that they refuse the same inputs ---


def check_collection(collection: object) -> str:
    if not isinstance(collection, str) or not _COLLECTION.match(collection):
        raise InvalidArgument(
            f"invalid collection name {collection!r}: use 1 to 100 letters, digits, '_' or '-',"
            " starting with a letter"
        )
    return collection


def check_id(doc_id: object) -> str:
    if not isinstance(doc_id, str):
        raise InvalidArgument(f"document ids are strings, not {type(doc_id).__name__}")
    if not doc_id:
        raise InvalidArgument("document ids must not be empty")
    if "/" in doc_id:
        raise InvalidArgument(f"document ids must not contain '/': {doc_id!r}")
    if doc_id in (".", "..") or _RESERVED.match(doc_id):
        raise InvalidArgument(f"document id {doc_id!r} is reserved")
    if _utf8_len(doc_id, "document id") > MAX_ID_BYTES:
        raise InvalidArgument(f"document ids are at most {MAX_ID_BYTES} bytes long")
    return doc_id


def check_field_path(field: object) -> str:
    if not isinstance(field, str) or not all(
        _FIELD_SEGMENT.match(part) for part in field.split(".")
    ):
        raise InvalidArgument(
            f"invalid field {field!r}: use identifiers joined by '.' (e.g. 'owner' or 'meta.time')"
        )
    return field


def check_data(data: object) -> dict[str, Any]:
    """Return a deep copy of data if it is a storable document, else raise InvalidArgument."""
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"document data is a dict, not {type(data).__name__}")
    copy = _check_map(data, "data")
    if len(json_dumps(copy)) > MAX_DOCUMENT_BYTES:
        raise InvalidArgument(f"documents are limited to about {MAX_DOCUMENT_BYTES} bytes")
    return copy


def check_version(if_version: object) -> str | None:
    if if_version is not None and not isinstance(if_version, str):
        raise InvalidArgument(f"versions are strings, not {type(if_version).__name__}")
    return if_version


def check_query(
    where: Sequence[Where], order_by: str | None, descending: bool, limit: int | None
) -> list[Where]:
    if isinstance(where, str | bytes) or not isinstance(where, Sequence):
        raise InvalidArgument("where is a list of (field, op, value) tuples")
    filters: list[Where] = []
    for clause in where:
        if not isinstance(clause, tuple | list) or len(clause) != 3:
            raise InvalidArgument(f"a filter is a (field, op, value) tuple, not {clause!r}")
        field, op, value = clause
        check_field_path(field)
        if op not in OPS:
            raise InvalidArgument(f"unknown operator {op!r}: use one of {sorted(OPS)}")
        equality = op == "=="
        _check_scalar(value, op, allow_bool=equality, allow_none=equality)
        filters.append((field, op, value))
    if order_by is not None:
        check_field_path(order_by)
    if not isinstance(descending, bool):
        raise InvalidArgument("descending is a bool")
    if descending and order_by is None:
        # Firestore cannot scan ids backwards ("does not support descending key scans").
        raise InvalidArgument("descending needs order_by")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidArgument(f"limit is a positive integer, not {limit!r}")
    return filters


def json_dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _utf8_len(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} {text!r} is not valid Unicode") from None


def _check_scalar(value: object, op: str, *, allow_bool: bool, allow_none: bool) -> None:
    if value is None:
        if allow_none:
            return
    elif isinstance(value, bool):
        if allow_bool:
            return
    elif isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return
    elif isinstance(value, float):
        if math.isfinite(value):
            return
    elif isinstance(value, str):
        _utf8_len(value, "string")
        return
    raise InvalidArgument(f"{op!r} cannot compare with {value!r}")


def _check_map(data: Mapping[Any, Any], where: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgument(f"field names are non-empty strings, not {key!r} in {where}")
        if _RESERVED.match(key):
            raise InvalidArgument(f"field name {key!r} in {where} is reserved")
        if _utf8_len(key, "field name") > MAX_ID_BYTES:
            raise InvalidArgument(f"field names are at most {MAX_ID_BYTES} bytes long")
        result[key] = _check_value(value, f"{where}[{key!r}]", in_list=False)
    return result


def _check_value(value: object, where: str, *, in_list: bool) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidArgument(f"{where}: integers are limited to 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"{where}: NaN and infinities cannot be stored")
        return value
    if isinstance(value, str):
        _utf8_len(value, where)
        return value
    if isinstance(value, list):
        if in_list:
            raise InvalidArgument(f"{where}: a list cannot directly contain a list")
        return [_check_value(item, f"{where}[{i}]", in_list=True) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _check_map(value, where)
    raise InvalidArgument(f"{where}: {type(value).__name__} is not JSON-like")
