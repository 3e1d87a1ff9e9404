"""The audit log's side of ingestion: documents added or replaced, and erasures.

``IngestAuditor``'s bound methods are the ingestor's ``on_ingest`` and
``on_erasure`` listeners (wired in assistant/resources.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from assistant.audit.events import SYSTEM_ACTOR, record_ingest
from assistant.audit.kinds import EventKind
from assistant.audit.log import AuditLog
from assistant.audit.receipts import sync_erasure_receipts
from assistant.auth.store import CollectionRule
from assistant.domain import Document


class IngestAuditor:
    """Records ingests in ``log()`` (opened on the first record), each with its
    collection's label from ``collection_rules()``; erasures are copied from the ingest
    journal, read with ``receipts_after(seq)``."""

    def __init__(
        self,
        log: Callable[[], AuditLog],
        *,
        collection_rules: Callable[[], Mapping[str, CollectionRule]],
        receipts_after: Callable[[int], Iterable[Any]],
    ) -> None:
        self.log = log
        self.collection_rules = collection_rules
        self.receipts_after = receipts_after

    def ingested(self, doc: Document, replaces: str | None, chunks: int) -> None:
        rule = self.collection_rules().get(doc.collection)
        record_ingest(
            self.log(),
            actor=SYSTEM_ACTOR,
            doc_id=doc.id,
            collection=doc.collection,
            path=doc.path,
            label=rule.label.name if rule else None,
            chunks=chunks,
            replaces=replaces,
        )

    def erased(self, receipt: object) -> None:
        """Copy the ingest journal's erasure receipts into the audit log, each once:
        ``receipt`` and any an earlier failure left behind."""
        sync_erasure_receipts(self.log(), self.receipts_after)


def record_upload(
    log: AuditLog, *, actor: str, collection: str, files: Iterable[Mapping[str, Any]]
) -> None:
    """Files an administrator uploaded in the page: who, into which collection, each file's
    SHA-256 and size in the chain; their names (which may name a person) in the payload."""
    files = list(files)
    data = {
        "collection": collection,
        "files": [
            {"sha256": f["sha256"], "size": f["size"], "refused": f["refused"]} for f in files
        ],
    }
    log.record(EventKind.UPLOAD, actor, data, {"names": [f["name"] for f in files]})
