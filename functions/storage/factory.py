"""Choosing the blob-store backend from the settings, never by `if production:` in code."""

from __future__ import annotations

from functions.config import Settings
from functions.storage.blobstore import BlobStore


def make_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_store == "local":
        from functions.storage.local import LocalBlobStore

        return LocalBlobStore(settings.data_dir / "blobs")
    if settings.blob_store == "memory":
        from functions.storage.memory import MemoryBlobStore

        return MemoryBlobStore()
    if settings.blob_store == "gcs":
        if not settings.bucket:
            raise ValueError("FIDDLE_BLOB_STORE=gcs needs the bucket's name in FIDDLE_BUCKET")
        from functions.storage.gcs import GcsBlobStore, storage_client

        return GcsBlobStore(settings.bucket, storage_client(settings.storage_emulator_host))
    raise ValueError(
        f"unknown blob store {settings.blob_store!r} (FIDDLE_BLOB_STORE): use local, memory or gcs"
    )
