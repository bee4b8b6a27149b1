"""Uploaded source images: decoded in the sandbox, numbered from `source/lastid.txt`, deletable
by admins together with every output rendered from them.

    source/<id>                  the normalised PNG
    source/lastid.txt            the largest id ever used (generation-conditioned increments)
    thumbnail/<id>/<size>.png    thumbnails made by the same sandboxed decode
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from functions.accounts import User
from functions.docstore.base import AlreadyExists, DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.fiddles import FiddleRepository
from functions.runner_client import RunnerClient
from functions.storage.blobstore import BlobStore, NotFound, PreconditionFailed
from runner_vm.protocol import RunRequest

LAST_ID = "source/lastid.txt"
SOURCES = "sources"
SOURCE_USES = "source_uses"
THUMBNAIL_SIZES = (64, 128, 256)
MAX_UPLOAD_BYTES = 10 << 20
ID_RETRIES = 200


class UploadRejected(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SourceImage:
    id: int
    creator: str
    time: float
    uses: int


class SourceImages:
    def __init__(
        self,
        store: BlobStore,
        documents: DocumentStore,
        fiddles: FiddleRepository,
        runner: RunnerClient,
    ) -> None:
        self.store = store
        self.documents = documents
        self.fiddles = fiddles
        self.runner = runner

    def upload(self, data: bytes, user: User) -> int:
        """Decode first, so a bad image uses up no id; then take the next id and store."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRejected("Images may be at most 10 MiB.", 413)
        decoded = self._decode(data)
        source_id = self._next_id()
        self.store.write(
            f"source/{source_id}",
            decoded["source.png"],
            content_type="image/png",
            metadata={"creator": user.name},
            if_generation_match=0,
        )
        for size in THUMBNAIL_SIZES:
            self.store.write(
                f"thumbnail/{source_id}/{size}.png",
                decoded[f"thumb{size}.png"],
                content_type="image/png",
            )
        self.documents.put(SOURCES, str(source_id), {"creator": user.name, "time": time.time()})
        return source_id

    def _decode(self, data: bytes) -> dict[str, bytes]:
        request = RunRequest(str(uuid.uuid4()), "", {}, data, task="decode_image")
        result = self.runner.run(request)
        if result.runtime_error or "source.png" not in result.outputs:
            raise UploadRejected(result.runtime_error or "The image could not be decoded.")
        return result.outputs

    def _next_id(self) -> int:
        for _ in range(ID_RETRIES):
            try:
                blob = self.store.read(LAST_ID)
                last, generation = int(blob.data.decode().strip() or 0), blob.generation
            except NotFound:
                last, generation = 0, 0
            try:
                self.store.write(
                    LAST_ID,
                    str(last + 1).encode(),
                    content_type="text/plain",
                    if_generation_match=generation,
                )
                return last + 1
            except PreconditionFailed:
                continue
        raise UploadRejected("Too many uploads at once; try again.", 503)

    def image(self, source_id: int) -> bytes | None:
        return self._read(f"source/{source_id}")

    def thumbnail(self, source_id: int, size: int) -> bytes | None:
        return self._read(f"thumbnail/{source_id}/{size}.png")

    def _read(self, name: str) -> bytes | None:
        try:
            return self.store.read(name).data
        except NotFound:
            return None

    def record_use(self, source_id: int, fiddle_hash: str) -> None:
        """Index which fiddles rendered with which image, so deletion needs no bucket scan."""
        try:
            self.documents.create(
                SOURCE_USES,
                f"{source_id}-{fiddle_hash}",
                {"source": source_id, "hash": fiddle_hash},
            )
        except AlreadyExists:
            pass

    def users_of(self, source_id: int) -> list[str]:
        uses = self.documents.query(SOURCE_USES, where=[("source", "==", source_id)])
        return sorted(d.data["hash"] for d in uses)

    def all(self) -> list[SourceImage]:
        images = []
        for document in self.documents.query(SOURCES):
            source_id = int(document.id)
            images.append(
                SourceImage(
                    source_id,
                    document.data.get("creator", ""),
                    document.data.get("time", 0.0),
                    len(self.users_of(source_id)),
                )
            )
        return sorted(images, key=lambda image: image.id)

    def delete(self, source_id: int) -> list[str]:
        """Remove the image, its thumbnails and every output rendered from it; return the hashes."""
        if not self.store.exists(f"source/{source_id}"):
            raise UploadRejected(f"There is no source image {source_id}.", 404)
        hashes = self.users_of(source_id)
        for fiddle_hash in hashes:
            self.fiddles.delete_outputs(fiddle_hash)
        for name in [
            f"source/{source_id}",
            *(f"thumbnail/{source_id}/{s}.png" for s in THUMBNAIL_SIZES),
        ]:
            self._delete_quietly(name)
        for fiddle_hash in hashes:
            self.documents.delete(SOURCE_USES, f"{source_id}-{fiddle_hash}")
        try:
            self.documents.delete(SOURCES, str(source_id))
        except DocumentNotFound:
            pass  # uploaded before the index existed
        return hashes

    def _delete_quietly(self, name: str) -> None:
        try:
            self.store.delete(name)
        except NotFound:
            pass
