"""Documents (users, tokens, named fiddles, the source-image index, the audit log, jobs): one small
interface with a SQLite backend (the default) and a Firestore backend."""

from functions.docstore.base import (
    AlreadyExists,
    Conflict,
    DocStoreError,
    Document,
    DocumentStore,
    InvalidArgument,
    NotFound,
)
from functions.docstore.factory import make_document_store

__all__ = [
    "AlreadyExists",
    "Conflict",
    "DocStoreError",
    "Document",
    "DocumentStore",
    "InvalidArgument",
    "NotFound",
    "make_document_store",
]
