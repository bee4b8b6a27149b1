"""Whether each named fiddle still works: per build, whether it ran cleanly (and its first error
line if not), and its status at the newest build a rerun-named job checked against the build
before it:

- `ok`: it ran cleanly at the new build, with the same pixels as at the previous one (or it did
  not run cleanly there: a fix is no alarm);
- `changed`: it ran cleanly at both, and its pixels differ (with the compare view's link);
- `broken`: it ran cleanly at the previous build and fails at the new one (with the first line
  of its error);
- `failing`: it fails at the new build and did not run cleanly at the previous one either.

One document per name in `named_status`, written by the job's worker before it records the item
as done, so a resumed job rewrites the same document with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.docstore.base import AlreadyExists, Conflict, DocumentStore

NAMED_STATUS = "named_status"
OK, CHANGED, BROKEN, FAILING = "ok", "changed", "broken", "failing"
STATUSES = (OK, CHANGED, BROKEN, FAILING)
# Builds kept per name (the newest by runid): runids sort by release time.
MAX_BUILDS_KEPT = 20


@dataclass(frozen=True)
class BuildOutcome:
    """How one named fiddle ran at one build."""

    runid: str
    clean: bool
    error: str = ""  # the first line of its error when it did not run cleanly


@dataclass(frozen=True)
class NamedStatus:
    name: str
    hash: str
    status: str
    build: str
    previous: str
    error: str = ""
    compare: str = ""
    changed_pixels: int = 0
    time: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "build": self.build,
            "previous": self.previous or None,
            "error": self.error,
            "compare": self.compare or None,
            "changedPixels": self.changed_pixels,
            "checked": self.time,
        }


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # A traceback's last line says what went wrong; a compile error's first line does.
    if lines and lines[0].startswith("Traceback"):
        return lines[-1][:300]
    return lines[0][:300] if lines else ""


def decide(new: BuildOutcome, previous: BuildOutcome | None, changed_pixels: int) -> str:
    if not new.clean:
        return BROKEN if previous is not None and previous.clean else FAILING
    return CHANGED if changed_pixels > 0 else OK


class NamedStatuses:
    def __init__(self, documents: DocumentStore) -> None:
        self.documents = documents

    def record(self, status: NamedStatus, outcomes: list[BuildOutcome]) -> None:
        """Store the name's status and its outcome at each build (read, change, write over
        the version read: two jobs checking one name at once both land)."""
        while True:
            doc = self.documents.get(NAMED_STATUS, status.name)
            data = dict(doc.data) if doc else {}
            builds = dict(data.get("builds") or {}) if data.get("hash") == status.hash else {}
            for outcome in outcomes:
                builds[_key(outcome.runid)] = {
                    "runid": outcome.runid, "clean": outcome.clean, "error": outcome.error,
                }  # fmt: skip
            kept = sorted(builds.items(), key=lambda kv: kv[1]["runid"])[-MAX_BUILDS_KEPT:]
            data.update(_fields(status), builds=dict(kept))
            try:
                if doc is None:
                    self.documents.create(NAMED_STATUS, status.name, data)
                else:
                    self.documents.update(NAMED_STATUS, status.name, data, if_version=doc.version)
                return
            except (Conflict, AlreadyExists):
                continue  # written since we read: merge into what is there now

    def get(self, name: str, current_hash: str) -> NamedStatus | None:
        """The name's status, if it was checked for the fiddle it names now."""
        doc = self.documents.get(NAMED_STATUS, name)
        if doc is None or doc.data.get("hash") != current_hash:
            return None
        return _status(name, doc.data)

    def all(self) -> dict[str, NamedStatus]:
        return {doc.id: _status(doc.id, doc.data) for doc in self.documents.query(NAMED_STATUS)}

    def count(self, status: str) -> int:
        return len(self.documents.query(NAMED_STATUS, where=[("status", "==", status)]))

    def builds(self, name: str) -> list[BuildOutcome]:
        doc = self.documents.get(NAMED_STATUS, name)
        if doc is None:
            return []
        found = (doc.data.get("builds") or {}).values()
        return [BuildOutcome(b["runid"], bool(b["clean"]), str(b.get("error", ""))) for b in found]


def _key(runid: str) -> str:
    # Field names of the stored map: runids hold ':' and '.', which Firestore field paths read
    # as syntax; the map is only ever read whole, so any unique key does.
    return runid.replace(":", "").replace(".", "_")


def _fields(status: NamedStatus) -> dict[str, Any]:
    return {
        "hash": status.hash,
        "status": status.status,
        "build": status.build,
        "previous": status.previous,
        "error": status.error,
        "compare": status.compare,
        "changed_pixels": status.changed_pixels,
        "time": status.time,
    }


def _status(name: str, data: dict[str, Any]) -> NamedStatus:
    return NamedStatus(
        name=name,
        hash=str(data.get("hash", "")),
        status=str(data.get("status", "")),
        build=str(data.get("build", "")),
        previous=str(data.get("previous", "")),
        error=str(data.get("error", "")),
        compare=str(data.get("compare", "")),
        changed_pixels=int(data.get("changed_pixels", 0)),
        time=float(data.get("time", 0.0)),
    )
