"""Uploaded source images: decoded in the sandbox, numbered from the last id used (increased
under a generation precondition), deletable by admins together with every output rendered from
them (the protocol that keeps runs in flight from storing outputs of a deleted image is in
functions/source_runs.py). Their names in the blob store are functions/storage/layout.py's.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from functions import errors
from functions.accounts import User
from functions.docstore.base import DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.quotas import ClientKeys, ClientLimits
from functions.runner_client import RunnerClient, RunnerUnavailable
from functions.source_runs import SourceRuns
from functions.storage import layout
from functions.storage.blobstore import BlobStore, InvalidName, NotFound, PreconditionFailed
from runner_vm.protocol import RunRequest

SOURCES = "sources"
THUMBNAIL_SIZES = (64, 128, 256)
_STORED_OUTPUTS = ("source.png", *(f"thumb{size}.png" for size in THUMBNAIL_SIZES))
MAX_UPLOAD_BYTES = 10 << 20
ID_RETRIES = 200
# The multipart field the image is sent in: the field every refusal of an upload concerns.
UPLOAD_FIELD = "upload"
NO_RUNNER = "No runner is available to check the image; try again shortly."


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
        runs: SourceRuns,
        runner: RunnerClient,
        limits: ClientLimits,
    ) -> None:
        self.store = store
        self.documents = documents
        self.runs = runs
        self.runner = runner
        self.limits = limits

    def upload(self, data: bytes, user: User, client: ClientKeys = ()) -> int:
        """Decode first, so a bad image uses up no id; then take the next id and store. The
        stored image and thumbnails count against the client's hourly quota."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise errors.TooLarge.about(UPLOAD_FIELD, "Images may be at most 10 MiB.")
        self.limits.quota.check_room(client)
        with self.limits.fair_share.slot(client):
            decoded = self._decode(data)
        self.limits.quota.charge(client, sum(len(decoded[name]) for name in _STORED_OUTPUTS))
        source_id = self._next_id()
        self.store.write(
            layout.source(source_id),
            decoded["source.png"],
            content_type="image/png",
            metadata={"creator": user.name},
            if_generation_match=0,
        )
        for size in THUMBNAIL_SIZES:
            self.store.write(
                layout.thumbnail(source_id, size),
                decoded[f"thumb{size}.png"],
                content_type="image/png",
            )
        self.documents.put(SOURCES, str(source_id), {"creator": user.name, "time": time.time()})
        return source_id

    def _decode(self, data: bytes) -> dict[str, bytes]:
        request = RunRequest(str(uuid.uuid4()), "", {}, data, task="decode_image")
        try:
            result = self.runner.run(request)
        except RunnerUnavailable as down:
            raise errors.Unavailable(NO_RUNNER, retry_after=down.retry_after) from down
        if result.runtime_error or not all(name in result.outputs for name in _STORED_OUTPUTS):
            message = result.runtime_error or "The image could not be decoded."
            raise errors.InvalidInput.about(UPLOAD_FIELD, message)
        return result.outputs

    def _next_id(self) -> int:
        for _ in range(ID_RETRIES):
            try:
                blob = self.store.read(layout.LAST_SOURCE_ID)
                last, generation = int(blob.data.decode().strip() or 0), blob.generation
            except NotFound:
                last, generation = 0, 0
            try:
                self.store.write(
                    layout.LAST_SOURCE_ID,
                    str(last + 1).encode(),
                    content_type="text/plain",
                    if_generation_match=generation,
                )
                return last + 1
            except PreconditionFailed:
                continue
        raise errors.Unavailable.about(UPLOAD_FIELD, "Too many uploads at once; try again.")

    def image(self, source_id: int) -> bytes | None:
        return self._read(layout.source(source_id))

    def thumbnail(self, source_id: int, size: int) -> bytes | None:
        return self._read(layout.thumbnail(source_id, size))

    def _read(self, name: str) -> bytes | None:
        try:
            return self.store.read(name).data
        except (NotFound, InvalidName):
            return None

    def all(self) -> list[SourceImage]:
        images = []
        for document in self.documents.query(SOURCES):
            source_id = int(document.id)
            images.append(
                SourceImage(
                    source_id,
                    document.data.get("creator", ""),
                    document.data.get("time", 0.0),
                    len(self.runs.users(source_id)),
                )
            )
        return sorted(images, key=lambda image: image.id)

    def delete(self, source_id: int) -> list[str]:
        """Remove the image, every run rendered from it, its thumbnails and its index entry (in
        that order, so a deletion that stopped half-way resumes when repeated); return the
        hashes of the fiddles whose runs were withdrawn."""
        removed = self._delete_quietly(layout.source(source_id))
        hashes = self.runs.withdraw(source_id)
        for size in THUMBNAIL_SIZES:
            removed |= self._delete_quietly(layout.thumbnail(source_id, size))
        try:
            self.documents.delete(SOURCES, str(source_id))
        except DocumentNotFound:
            pass  # uploaded before the index existed, or removed by an earlier attempt
        else:
            removed = True
        if not removed and not hashes:
            raise errors.NotFound(f"There is no source image {source_id}.")
        return hashes

    def _delete_quietly(self, name: str) -> bool:
        try:
            self.store.delete(name)
        except (NotFound, InvalidName):
            return False
        return True
