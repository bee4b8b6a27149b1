"""The audit log of administrative actions: who did what, when."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from functions.docstore.base import DocumentStore

AUDIT = "audit"


@dataclass(frozen=True)
class AuditEntry:
    who: str
    action: str
    target: str
    time: float
    details: dict[str, Any]


class AuditLog:
    def __init__(self, documents: DocumentStore) -> None:
        self.documents = documents

    def record(self, who: str, action: str, target: str, **details: Any) -> None:
        entry = {"who": who, "action": action, "target": target, "time": time.time()}
        self.documents.add(AUDIT, {**entry, "details": details})

    def newest(self, limit: int = 200) -> list[AuditEntry]:
        documents = self.documents.query(AUDIT, order_by="time", descending=True, limit=limit)
        return [
            AuditEntry(
                d.data["who"],
                d.data["action"],
                d.data["target"],
                d.data["time"],
                d.data.get("details", {}),
            )
            for d in documents
        ]
