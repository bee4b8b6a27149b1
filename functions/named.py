"""Named fiddles: a blob per name holds a hash, like a soft link, with its creator as metadata.

The blob is the truth (it is what `@name` resolves through); the document-store index beside it
serves listings. Creation races are settled by the blob's generation precondition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from functions import errors
from functions.accounts import User
from functions.docstore.base import DocumentStore
from functions.docstore.base import NotFound as DocumentNotFound
from functions.fiddles import FiddleRepository
from functions.storage import layout
from functions.storage.blobstore import BlobStore, NotFound, PreconditionFailed
from functions.storage.layout import HASH_RE, NAME_RE

NAMED = "named"


@dataclass(frozen=True)
class NamedFiddle:
    name: str
    hash: str
    creator: str
    time: float


class NamedFiddles:
    def __init__(
        self, store: BlobStore, documents: DocumentStore, fiddles: FiddleRepository
    ) -> None:
        self.store = store
        self.documents = documents
        self.fiddles = fiddles

    def name(self, name: str, fiddle_hash: str, user: User, *, overwrite: bool) -> NamedFiddle:
        _check(name, fiddle_hash)
        # Either form of the hash names the fiddle; the name always holds the canonical one.
        found = self.fiddles.lookup(fiddle_hash, self.fiddles.load)
        if found is None:
            raise errors.NotFound.about("hash", f"There is no fiddle {fiddle_hash}.")
        fiddle_hash = found[0]
        named = NamedFiddle(name, fiddle_hash, user.name, time.time())
        metadata = {"creator": user.name, "time": f"{named.time:.3f}", "status": "active"}
        generation = 0 if not overwrite else self._overwritable_generation(name, user)
        try:
            self.store.write(
                layout.named(name),
                fiddle_hash.encode(),
                metadata=metadata,
                content_type="text/plain",
                if_generation_match=generation,
            )
        except PreconditionFailed:
            raise errors.Conflict.about("name", f"The name {name} is already taken.") from None
        self.documents.put(
            NAMED, name, {"hash": fiddle_hash, "creator": user.name, "time": named.time}
        )
        return named

    def _overwritable_generation(self, name: str, user: User) -> int:
        try:
            info = self.store.stat(layout.named(name))
        except NotFound:
            return 0
        if info.metadata.get("creator") != user.name and not user.is_admin:
            raise errors.Forbidden.about("name", f"The name {name} belongs to someone else.")
        return info.generation

    def get(self, name: str) -> NamedFiddle | None:
        """The named fiddle as the index lists it, or None."""
        doc = self.documents.get(NAMED, name) if NAME_RE.fullmatch(name) else None
        if doc is None:
            return None
        return NamedFiddle(doc.id, doc.data["hash"], doc.data["creator"], doc.data["time"])

    def all(self) -> list[NamedFiddle]:
        return [
            NamedFiddle(d.id, d.data["hash"], d.data["creator"], d.data["time"])
            for d in self.documents.query(NAMED)
        ]

    def delete(self, name: str) -> None:
        if not NAME_RE.fullmatch(name):
            raise errors.InvalidInput("Names are letters, digits and underscores.")
        try:
            self.store.delete(layout.named(name))
        except NotFound:
            raise errors.NotFound(f"There is no fiddle named {name}.") from None
        try:
            self.documents.delete(NAMED, name)
        except DocumentNotFound:
            pass  # the index lagged behind the blob; nothing left to remove


def _check(name: object, fiddle_hash: object) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        message = "Names are 1 to 128 letters, digits and underscores."
        raise errors.InvalidInput.about("name", message)
    if not isinstance(fiddle_hash, str) or not HASH_RE.fullmatch(fiddle_hash):
        message = "The hash must be 32 lower-case hexadecimal digits."
        raise errors.InvalidInput.about("hash", message)
