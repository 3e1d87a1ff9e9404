"""The ingest journal: each file's progress, and the receipts of erasures.

It lives in the store's SQLite file (WAL, ``synchronous=FULL``), so the final
state, ``committed``, is written in the same transaction as the document's
chunks, and an erasure receipt in the same transaction as the deletion: there
is never a deletion without its receipt, nor a receipt without its deletion.

States: ``seen`` -> ``parsed`` -> ``embedded`` -> ``committed``, or
``quarantined``. A row left in an earlier state after a restart is work a crash
interrupted; the next scan redoes it (the store holds nothing half-written).

Receipts are read with :func:`iter_receipts` (or ``Journal.receipts``) so the
audit log can take them over; each converts to an ``AuditEvent``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from assistant.domain import AuditEvent, utcnow
from assistant.store.documents import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest_journal (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    collection TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS erasure_receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    chunks INTEGER NOT NULL
);
"""

STATES = ("seen", "parsed", "embedded", "committed", "quarantined")
UNFINISHED = ("seen", "parsed", "embedded")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    path: str
    sha256: str
    collection: str
    state: str
    at: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """Proof that a document's text, vectors and lexical entries were deleted.

    It names the document only by its content hash: the receipt must not keep
    what was erased (a file name can be personal data too).
    """

    doc_id: str
    sha256: str
    at: str
    actor: str
    reason: str
    chunks: int
    id: int = 0

    def to_audit_event(self) -> AuditEvent:
        data = asdict(self)
        at, actor = data.pop("at"), data.pop("actor")
        return AuditEvent(kind="erasure", actor=actor, at=at, data=data)


class Journal:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.connection() as db:
            db.executescript(SCHEMA)

    # -- states ------------------------------------------------------------------
    def mark(self, path: str, state: str, sha256: str, collection: str, detail: str = "") -> None:
        """Record a state in its own durable transaction."""
        with self.store.transaction() as db:
            Journal.mark_in(db, path, state, sha256, collection, detail)

    @staticmethod
    def mark_in(
        db: sqlite3.Connection,
        path: str,
        state: str,
        sha256: str,
        collection: str,
        detail: str = "",
    ) -> None:
        assert state in STATES, state
        db.execute(
            "INSERT INTO ingest_journal (path, sha256, collection, state, at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET sha256=excluded.sha256, "
            "collection=excluded.collection, state=excluded.state, at=excluded.at, "
            "detail=excluded.detail",
            (path, sha256, collection, state, utcnow().isoformat(), detail),
        )

    @staticmethod
    def drop_in(db: sqlite3.Connection, path: str) -> None:
        db.execute("DELETE FROM ingest_journal WHERE path = ?", (path,))

    def entries(self, states: tuple[str, ...] = STATES) -> list[JournalEntry]:
        marks = ",".join("?" * len(states))
        with self.store.connection() as db:
            rows = db.execute(
                "SELECT path, sha256, collection, state, at, detail FROM ingest_journal "
                f"WHERE state IN ({marks}) ORDER BY path",
                states,
            ).fetchall()
        return [JournalEntry(*r) for r in rows]

    def unfinished(self) -> list[JournalEntry]:
        """Files whose ingest a crash interrupted (redone by the next scan)."""
        return self.entries(UNFINISHED)

    # -- erasure receipts --------------------------------------------------------
    @staticmethod
    def add_receipt(db: sqlite3.Connection, receipt: ErasureReceipt) -> ErasureReceipt:
        cur = db.execute(
            "INSERT INTO erasure_receipts (doc_id, sha256, at, actor, reason, chunks) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                receipt.doc_id,
                receipt.sha256,
                receipt.at,
                receipt.actor,
                receipt.reason,
                receipt.chunks,
            ),
        )
        return ErasureReceipt(**{**asdict(receipt), "id": int(cur.lastrowid or 0)})

    def receipts(self, after_id: int = 0) -> Iterator[ErasureReceipt]:
        """Receipts in the order written, from ``after_id`` on (for the audit log to resume)."""
        with self.store.connection() as db:
            rows = db.execute(
                "SELECT doc_id, sha256, at, actor, reason, chunks, id FROM erasure_receipts "
                "WHERE id > ? ORDER BY id",
                (after_id,),
            ).fetchall()
        for r in rows:
            yield ErasureReceipt(*r)


def iter_receipts(store: Store, after_id: int = 0) -> Iterator[ErasureReceipt]:
    """Every erasure receipt after ``after_id``: the hook for the audit log."""
    return Journal(store).receipts(after_id)
