"""What a job is: its kind, parameters, state, items and progress, as one document of the
`jobs` collection. Every change to a job is a conditional write of that document
(functions/jobs/store.py); this module only reads and shapes the data.

States. `queued` -> `running` -> `done` | `failed`; a cancel request moves `queued` straight to
`cancelled`, and `running` to `cancel`, which the worker holding the job turns into
`cancelling` (no new item starts) and then `cancelled` (items in flight are recorded first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JOBS = "jobs"

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
CANCEL, CANCELLING, CANCELLED = "cancel", "cancelling", "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCEL, CANCELLING, CANCELLED)
FINAL_STATES = frozenset({DONE, FAILED, CANCELLED})
# States in which a worker holds (or should hold) the job.
HELD_STATES = frozenset({RUNNING, CANCEL, CANCELLING})

RERUN_NAMED, RERUN_FIDDLES = "rerun-named", "rerun-fiddles"
# Kinds an admin starts by name (POST /_/jobs, `fiddle jobs start`).
KINDS = (RERUN_NAMED, RERUN_FIDDLES)
# Started only by deleting a source image (DELETE /_/source/<id>), which removes the image first.
PURGE_SOURCE = "purge-source"

# Failures kept in the document with their error (the count goes on past them).
MAX_FAILURES_KEPT = 50
# Items per job: each is a short string in the job's document (at most about 1 MB).
MAX_ITEMS = 5000


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    state: str
    items: tuple[str, ...]
    done: frozenset[int]
    counts: dict[str, int]
    failures: tuple[dict[str, str], ...]
    who: str
    created: float
    updated: float
    worker: str = ""
    lease_until: float = 0.0
    error: str = ""
    version: str = ""
    finished: float = 0.0

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def lease_expired(self, now: float) -> bool:
        return self.lease_until <= now

    def pending(self) -> list[int]:
        """Indices of the items not recorded as done, in order."""
        return [index for index in range(self.total) if index not in self.done]

    def to_json(self) -> dict[str, Any]:
        """What GET /_/jobs/<id> answers."""
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "state": self.state,
            "progress": {
                "done": len(self.done),
                "total": self.total,
                "failures": self.counts.get("failed", 0) + self.counts.get("error", 0),
                "counts": self.counts,
            },
            "failures": list(self.failures),
            "who": self.who,
            "created": self.created,
            "updated": self.updated,
            "finished": self.finished or None,
            "worker": self.worker or None,
            "lease_until": self.lease_until or None,
            "error": self.error,
            "url": f"/_/jobs/{self.id}",
        }


def new_document(
    kind: str, params: dict[str, Any], items: list[str], who: str, now: float
) -> dict[str, Any]:
    return {
        "kind": kind,
        "params": params,
        "state": QUEUED,
        "active": True,  # one equality field for the workers' query (no composite index)
        "items": items,
        "done": [],
        "counts": {},
        "failures": [],
        "who": who,
        "created": now,
        "updated": now,
        "worker": "",
        "lease_until": 0.0,
        "error": "",
        "finished": 0.0,
    }


def from_document(doc_id: str, data: dict[str, Any], version: str) -> Job:
    return Job(
        id=doc_id,
        kind=str(data.get("kind", "")),
        params=dict(data.get("params") or {}),
        state=str(data.get("state", QUEUED)),
        items=tuple(data.get("items") or ()),
        done=frozenset(int(i) for i in data.get("done") or ()),
        counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
        failures=tuple(data.get("failures") or ()),
        who=str(data.get("who", "")),
        created=float(data.get("created", 0.0)),
        updated=float(data.get("updated", 0.0)),
        worker=str(data.get("worker", "")),
        lease_until=float(data.get("lease_until", 0.0)),
        error=str(data.get("error", "")),
        version=version,
        finished=float(data.get("finished", 0.0)),
    )
