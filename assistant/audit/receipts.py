"""Document erasures (GDPR Art 17) in the audit log, from the ingest journal's receipts.

The ingest journal writes an erasure receipt in the same transaction as the
deletion (``assistant/store/journal.py``: doc id, file hash, time, actor, reason, chunk
count, receipt id -- nothing that names the file). ``sync_erasure_receipts``
takes over every receipt written since the last sync, exactly once: the
cursor (the last receipt id) is kept in the chain database and moved in the
same transaction as the records it accounts for. Before that, the document's
own paths, filed by ``record_ingest`` under ``document:<id>``, are erased.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from assistant.audit.chain import ChainStore
from assistant.audit.log import AuditLog
from assistant.audit.records import AuditRecord, EventKind, canonical, format_ts
from assistant.domain import sha256_hex
from assistant.errors import AuditError

CURSOR_KEY = "erasure_receipt_cursor"


def document_subject(doc_id: str) -> str:
    """The payload-store subject under which a document's paths are filed."""
    return f"document:{doc_id}"


def _as_dict(receipt: Any) -> dict[str, Any]:
    if isinstance(receipt, Mapping):
        out = dict(receipt)
    elif dataclasses.is_dataclass(receipt) and not isinstance(receipt, type):
        out = dataclasses.asdict(receipt)
    else:
        raise AuditError(f"not an erasure receipt: {type(receipt).__name__}")
    if not out.get("doc_id") or not out.get("actor"):
        raise AuditError("an erasure receipt needs a doc_id and an actor")
    return out


def _erasure_data(receipt: dict[str, Any], erased: int, collection: str | None) -> dict[str, Any]:
    body = {k: v for k, v in receipt.items() if k != "actor"}
    return {
        "scope": "document",
        "doc_id": receipt["doc_id"],
        "collection": collection,
        "receipt": body,
        "receipt_sha256": sha256_hex(canonical(body)),
        "payloads_erased": erased,
    }


def _erase_paths(audit: AuditLog, doc_id: str) -> int:
    at = format_ts(audit.clock())
    return audit.payloads.erase_subject(document_subject(doc_id), at=at, reason="document erased")


def record_erasure(audit: AuditLog, receipt: Any, *, collection: str | None = None) -> AuditRecord:
    """Record one erasure receipt (a mapping or the journal's dataclass) as it is."""
    r = _as_dict(receipt)
    erased = _erase_paths(audit, r["doc_id"])
    return audit.record(EventKind.ERASURE, r["actor"], _erasure_data(r, erased, collection))


def sync_erasure_receipts(audit: AuditLog, receipts_after: Callable[[int], Iterable[Any]]) -> int:
    """Record the receipts ``receipts_after(last_id)`` yields that are not recorded yet.

    Wire it as ``sync_erasure_receipts(audit, lambda after: iter_receipts(store, after))``
    after each erasure and at start-up (it catches up on receipts written while the audit
    log was unreachable). Safe to call from several processes: each receipt once.
    """
    with audit.chain.snapshot() as db:
        last = int(ChainStore.meta(db, CURSOR_KEY) or 0)
    pending = [_as_dict(r) for r in receipts_after(last)]
    if not pending:
        return 0
    if any(not isinstance(r.get("id"), int) or r["id"] < 1 for r in pending):
        raise AuditError("receipts to sync need their journal id")
    erased = {r["doc_id"]: _erase_paths(audit, r["doc_id"]) for r in pending}
    now = audit.clock()
    count = 0
    with audit.chain.write() as db:
        last = int(ChainStore.meta(db, CURSOR_KEY) or 0)  # another process may have synced
        for r in sorted(pending, key=lambda r: int(r["id"])):
            rid = int(r["id"])
            if rid <= last:
                continue
            data = _erasure_data(r, erased.get(r["doc_id"], 0), None)
            audit.append_locked(db, EventKind.ERASURE, str(r["actor"]), data, None, now)
            last, count = rid, count + 1
        ChainStore.set_meta(db, CURSOR_KEY, str(last))
    audit.checkpoint_if_due()
    return count
