"""Choosing the document-store backend by name (FIDDLE_DOC_STORE), never by `if production:`."""

from __future__ import annotations

from pathlib import Path

from functions.docstore.base import DocStoreError, DocumentStore

SQLITE_FILE_NAME = "fiddle.sqlite3"


def make_document_store(kind: str, data_dir: Path, project: str = "") -> DocumentStore:
    """kind "sqlite" is data_dir / fiddle.sqlite3 (the default); "firestore" is the project's
    database (or the emulator that FIRESTORE_EMULATOR_HOST names)."""
    if kind == "sqlite":
        from functions.docstore.sqlite import SqliteDocumentStore

        return SqliteDocumentStore(Path(data_dir) / SQLITE_FILE_NAME)
    if kind == "firestore":
        if not project:
            raise ValueError(
                "the firestore document store needs a Google Cloud project:"
                " set GOOGLE_CLOUD_PROJECT"
            )
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import firestore

        from functions.docstore.firestore import FirestoreDocumentStore

        try:
            client = firestore.Client(project=project)
        except DefaultCredentialsError as error:
            raise DocStoreError(
                f"no Google credentials for Firestore in project {project!r} (run on Google Cloud,"
                " set GOOGLE_APPLICATION_CREDENTIALS, or set FIRESTORE_EMULATOR_HOST): {error}"
            ) from error
        return FirestoreDocumentStore(client)
    raise ValueError(f"unknown document store {kind!r} (FIDDLE_DOC_STORE): use sqlite or firestore")
