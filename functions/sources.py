"""Source images: the six built in (ids 1 to 6, functions/builtin_sources.py) and uploads,
decoded in the sandbox and numbered after the last id used (increased under a generation
precondition, never below 7), deletable by admins together with every output rendered from them
(the protocol that keeps runs in flight from storing outputs of a deleted image is in
functions/source_runs.py). Their names in the blob store are functions/storage/layout.py's.

The built-in images are stored when the app starts (`seed_builtins`), create-only and only in
ids no image ever had, then the last id is raised to 6 under its generation precondition. Only
seeding raises it to 6 (an upload that finds it lower seeds first), so a last id of 6 or more
means the built-ins are stored: any number of instances may seed at once, uploads racing them
take 7 and up, and a store past 6 is left as it is at the cost of one read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fiddle_protocol import outputs
from fiddle_protocol.messages import RunRequest
from functions import errors
from functions.accounts import User
from functions.builtin_sources import (
    BUILTIN_KEY,
    BUILTIN_SOURCES,
    CREATOR,
    LAST_BUILTIN_ID,
    BuiltinSource,
    builtin_name,
    image_path,
    is_builtin,
    thumbnail_path,
)
from functions.docstore.base import DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.quotas import ClientKeys, ClientLimits
from functions.runner_client import RunnerClient, RunnerUnavailable
from functions.source_runs import SourceRuns
from functions.storage import layout
from functions.storage.blobstore import BlobStore, InvalidName, NotFound, PreconditionFailed

SOURCES = "sources"
THUMBNAIL_SIZES = outputs.THUMBNAIL_SIZES
_STORED_OUTPUTS = tuple(output.stored for output in outputs.IMAGE_OUTPUTS)
MAX_UPLOAD_BYTES = 10 << 20
ID_RETRIES = 200
# The multipart field the image is sent in: the field every refusal of an upload concerns.
UPLOAD_FIELD = "upload"


def source_tag(source_id: int) -> str:
    """What the response cache tags the answers showing source image `source_id` with."""
    return f"source/{source_id}"


NO_RUNNER = "No runner is available to check the image; try again shortly."


@dataclass(frozen=True)
class SourceImage:
    id: int
    creator: str
    time: float
    uses: int
    builtin: bool = False

    @property
    def name(self) -> str:
        return (builtin_name(self.id) if self.builtin else None) or f"Image {self.id}"


class SourceImages:
    def __init__(
        self,
        store: BlobStore,
        documents: DocumentStore,
        runs: SourceRuns,
        runner: RunnerClient,
        limits: ClientLimits,
        on_change: Callable[[str], None] = lambda tag: None,
    ) -> None:
        self.store = store
        self.documents = documents
        self.runs = runs
        self.runner = runner
        self.limits = limits
        # Told SOURCES when the list of images changes, and source_tag(id) when an image goes
        # (the response cache replays both for a few seconds).
        self.on_change = on_change

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
            decoded[outputs.SOURCE.stored],
            content_type="image/png",
            metadata={"creator": user.name},
            if_generation_match=0,
        )
        for size in THUMBNAIL_SIZES:
            self.store.write(
                layout.thumbnail(source_id, size),
                decoded[outputs.THUMBNAILS[size].stored],
                content_type="image/png",
            )
        self.documents.put(SOURCES, str(source_id), {"creator": user.name, "time": time.time()})
        self.on_change(SOURCES)
        return source_id

    def _decode(self, data: bytes) -> dict[str, bytes]:
        request = RunRequest(str(uuid.uuid4()), "", source_png=data, task=outputs.DECODE_IMAGE)
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
            last, generation = self._last_id()
            if last < LAST_BUILTIN_ID:
                # Only seeding moves the last id up to the built-ins' (after storing them), so
                # that a last id of 6 or more always means they are there.
                self.seed_builtins()
                continue
            if self._set_last_id(last + 1, generation):
                return last + 1
        raise errors.Unavailable.about(UPLOAD_FIELD, "Too many uploads at once; try again.")

    def _last_id(self) -> tuple[int, int]:
        """The largest id ever used, and the generation of the object that says so."""
        try:
            blob = self.store.read(layout.LAST_SOURCE_ID)
        except NotFound:
            return 0, 0
        return int(blob.data.decode().strip() or 0), blob.generation

    def _set_last_id(self, value: int, generation: int) -> bool:
        """False when another writer changed the last id since it was read."""
        try:
            self.store.write(
                layout.LAST_SOURCE_ID,
                str(value).encode(),
                content_type="text/plain",
                if_generation_match=generation,
            )
        except PreconditionFailed:
            return False
        return True

    # --- built-in images ----------------------------------------------------------------------

    def seed_builtins(self) -> list[int]:
        """Store the built-in images no id has held yet; the ids stored (or found stored)."""
        last, _ = self._last_id()
        if last >= LAST_BUILTIN_ID:
            return []
        seeded = [
            source.id for source in BUILTIN_SOURCES if source.id > last and self._seed(source)
        ]
        self._raise_last_id(LAST_BUILTIN_ID)
        return seeded

    def _seed(self, source: BuiltinSource) -> bool:
        """The image, its thumbnails and its index entry, each create-only or idempotent; False
        when its id holds someone else's image (an upload of an older version of the service)."""
        name, metadata = layout.source(source.id), {"creator": CREATOR, BUILTIN_KEY: "true"}
        created = self._create(name, image_path(source.id), metadata)
        if not created and not is_builtin(self.store.stat(name).metadata):
            return False
        for size in THUMBNAIL_SIZES:
            self._create(layout.thumbnail(source.id, size), thumbnail_path(source.id, size), {})
        document = {"creator": CREATOR, "time": 0.0, BUILTIN_KEY: True}
        self.documents.put(SOURCES, str(source.id), document)
        return True

    def _create(self, name: str, path: Path, metadata: dict[str, str]) -> bool:
        try:
            self.store.write(
                name,
                path.read_bytes(),
                content_type="image/png",
                metadata=metadata,
                if_generation_match=0,
            )
        except PreconditionFailed:
            return False
        return True

    def _raise_last_id(self, value: int) -> None:
        for _ in range(ID_RETRIES):
            last, generation = self._last_id()
            if last >= value or self._set_last_id(value, generation):
                return
        raise errors.Unavailable("The source images could not be numbered; try again.")

    def image(self, source_id: int) -> bytes | None:
        return self._read(layout.source(source_id))

    def thumbnail(self, source_id: int, size: int) -> bytes | None:
        return self._read(layout.thumbnail(source_id, size))

    def _read(self, name: str) -> bytes | None:
        try:
            return self.store.read(name).data
        except (NotFound, InvalidName):
            return None

    def ids(self) -> list[int]:
        """The id of every source image, in order (no use counts: cheap enough for /e/)."""
        return sorted(int(document.id) for document in self.documents.query(SOURCES))

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
                    document.data.get(BUILTIN_KEY) is True,
                )
            )
        return sorted(images, key=lambda image: image.id)

    def withdraw(self, source_id: int) -> list[str]:
        """The first steps of deleting an image, done at once: remove the image (no run of it is
        shown or stored from here on), its thumbnails and its index entry (no page lists it),
        then list the fiddles rendered from it, for the purge-source job that withdraws their
        runs (functions/source_runs.py). A built-in image is a 409; an id with neither an image
        nor registered runs left a 404. Repeating it after a crash lists what is left."""
        self._refuse_builtin(source_id)
        removed = self._delete_quietly(layout.source(source_id))
        for size in THUMBNAIL_SIZES:
            removed |= self._delete_quietly(layout.thumbnail(source_id, size))
        try:
            self.documents.delete(SOURCES, str(source_id))
        except DocumentNotFound:
            pass  # uploaded before the index existed, or removed by an earlier attempt
        else:
            removed = True
        self.on_change(source_tag(source_id))
        self.on_change(SOURCES)
        hashes = self.runs.users(source_id)
        if not removed and not hashes:
            raise errors.NotFound(f"There is no source image {source_id}.")
        return hashes

    def _refuse_builtin(self, source_id: int) -> None:
        try:
            metadata = self.store.stat(layout.source(source_id)).metadata
        except (NotFound, InvalidName):
            return  # nothing there, or a deletion that stopped half-way: let it resume
        if is_builtin(metadata):
            raise errors.Conflict(
                f"Source image {source_id} is built in and cannot be deleted.",
                {"id": ["is a built-in source image"]},
            )

    def _delete_quietly(self, name: str) -> bool:
        try:
            self.store.delete(name)
        except (NotFound, InvalidName):
            return False
        return True
