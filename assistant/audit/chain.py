"""The append-only record store: SQLite in WAL mode with ``synchronous=FULL``.

Why SQLite and not a JSONL file: a commit is atomic and fsync'd, so a crash
never leaves half a record to repair; its write lock makes "read the tip,
append the next seq" one step across threads *and* processes (the server and
the CLI both append), so seq stays gapless; and the export filters and the
review page query indexed columns instead of scanning 100,000+ lines. Tamper
evidence does not depend on the container: each row keeps the exact
canonical bytes it was hashed from, and ``verify`` trusts nothing else.
``record_collections`` (collection, seq) is such an index too: derived from
each record's kind and data at append time (``kinds.collections_of``), re-derived
and compared by ``verify``.

Triggers refuse UPDATE and DELETE, except DELETE of records already behind the
retention anchor; they stop mistakes, not an attacker with the file -- that is
what the hash chain and the signed checkpoints are for.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.audit.checkpoint import Checkpoint
from assistant.audit.kinds import collections_of
from assistant.audit.merkle import Frontier
from assistant.audit.records import GENESIS_HASH, AuditRecord
from assistant.store import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload_hash TEXT,
    hash TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_actor_kind ON records (actor, kind);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind);
-- the review page: records of a collection, and records whose texts match a search
CREATE INDEX IF NOT EXISTS records_payload ON records (payload_hash);
CREATE TABLE IF NOT EXISTS record_collections (
    collection TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (collection, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size INTEGER PRIMARY KEY,
    body BLOB NOT NULL,
    frontier TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
WHEN OLD.seq > COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'anchor_size'), 0)
BEGIN SELECT RAISE(ABORT, 'only records behind the retention anchor may be deleted'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS meta_log_id BEFORE UPDATE ON meta WHEN OLD.key = 'log_id'
BEGIN SELECT RAISE(ABORT, 'the log id never changes'); END;
"""


def connect(path: Path) -> sqlite3.Connection:
    """The audit databases wait up to 30 s for another process's write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite.connect(path, timeout=30.0, secure_delete=True)


@dataclass(frozen=True, slots=True)
class Tip:
    """The last record: where the next one links to."""

    seq: int
    hash: str
    ts: str | None


@dataclass(frozen=True, slots=True)
class Anchor:
    """What stands in for a purged prefix: the tree state at a signed checkpoint."""

    frontier: Frontier
    last_hash: str  # hash of the last purged record: the next record's prev_hash
    last_ts: str
    checkpoint: Checkpoint
    purged_at: str

    @property
    def tree_size(self) -> int:
        return self.frontier.size

    def to_json(self) -> str:
        return json.dumps(
            {
                "frontier": self.frontier.to_json(),
                "last_hash": self.last_hash,
                "last_ts": self.last_ts,
                "checkpoint": self.checkpoint.to_dict(),
                "purged_at": self.purged_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        obj: dict[str, Any] = json.loads(text)
        return cls(
            frontier=Frontier.from_json(obj["frontier"]),
            last_hash=str(obj["last_hash"]),
            last_ts=str(obj["last_ts"]),
            checkpoint=Checkpoint.from_dict(obj["checkpoint"]),
            purged_at=str(obj["purged_at"]),
        )


Row = tuple[int, str, str, str, str | None, str, bytes]
"""(seq, ts, kind, actor, payload_hash, hash, body) as stored."""

COLLECTION_INDEX_KEY = "collection_index"


class ChainStore:
    """One SQLite file of records, checkpoints and the retention anchor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)  # idempotent DDL, each statement atomic
        with self.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)", (uuid.uuid4().hex,)
            )
            self.log_id: str = db.execute("SELECT value FROM meta WHERE key='log_id'").fetchone()[0]
            if ChainStore.meta(db, COLLECTION_INDEX_KEY) is None:
                ChainStore._index_collections(db)  # a log written before the index existed

    @staticmethod
    def _index_collections(db: sqlite3.Connection) -> None:
        """Fill ``record_collections`` for every stored record, once (inside ``write()``)."""
        for seq, body in db.execute("SELECT seq, body FROM records ORDER BY seq").fetchall():
            try:
                obj = json.loads(body)
                kind, data = obj.get("kind"), obj.get("data")
            except (ValueError, AttributeError):
                continue  # unreadable bytes: verify reports the record itself
            if isinstance(data, dict):
                db.executemany(
                    "INSERT OR IGNORE INTO record_collections (collection, seq) VALUES (?, ?)",
                    [(c, seq) for c in sorted(collections_of(str(kind), data))],
                )
        ChainStore.set_meta(db, COLLECTION_INDEX_KEY, "1")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- transactions ----------------------------------------------------------
    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """The write lock (this process's threads, then SQLite's across processes)."""
        return sqlite.transaction(self._db, self._lock)

    @contextmanager
    def snapshot(self, *, attach: Mapping[str, Path] | None = None) -> Iterator[sqlite3.Connection]:
        """A consistent read view on its own connection: readers never block the writer.
        ``attach`` maps schema names to other databases read in the same view (the
        payload store, for the review page's text search)."""
        db = connect(self.path)
        try:
            for name, other in (attach or {}).items():
                if not name.isidentifier():
                    raise ValueError(f"not a schema name: {name!r}")
                db.execute(f"ATTACH DATABASE ? AS {name}", (str(other),))
            db.execute("BEGIN")
            yield db
            db.execute("COMMIT")
        finally:
            db.close()

    # -- reads (any connection) ----------------------------------------------------
    @staticmethod
    def tip(db: sqlite3.Connection) -> Tip:
        row = db.execute("SELECT seq, hash, ts FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            return Tip(row[0], row[1], row[2])
        anchor = ChainStore.anchor(db)
        if anchor is not None:
            return Tip(anchor.tree_size, anchor.last_hash, anchor.last_ts)
        return Tip(0, GENESIS_HASH, None)

    @staticmethod
    def anchor(db: sqlite3.Connection) -> Anchor | None:
        row = db.execute("SELECT value FROM meta WHERE key='anchor'").fetchone()
        return Anchor.from_json(row[0]) if row else None

    @staticmethod
    def rows(db: sqlite3.Connection, after_seq: int = 0) -> Iterator[Row]:
        yield from db.execute(
            "SELECT seq, ts, kind, actor, payload_hash, hash, body FROM records "
            "WHERE seq > ? ORDER BY seq",
            (after_seq,),
        )

    @staticmethod
    def leaf_hashes(db: sqlite3.Connection, after_seq: int, upto_seq: int) -> list[bytes]:
        rows = db.execute(
            "SELECT hash FROM records WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after_seq, upto_seq),
        )
        return [bytes.fromhex(r[0]) for r in rows]

    @staticmethod
    def checkpoints(db: sqlite3.Connection) -> dict[int, tuple[bytes, str]]:
        """Stored checkpoints by tree size: (signed JSON bytes, frontier JSON)."""
        return {
            r[0]: (r[1], r[2])
            for r in db.execute("SELECT tree_size, body, frontier FROM checkpoints")
        }

    @staticmethod
    def latest_checkpoint(db: sqlite3.Connection) -> tuple[Checkpoint, Frontier] | None:
        row = db.execute(
            "SELECT body, frontier FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return Checkpoint.from_bytes(row[0]), Frontier.from_json(json.loads(row[1]))

    @staticmethod
    def meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    # -- writes (inside ``write()``) -------------------------------------------------
    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @staticmethod
    def insert(db: sqlite3.Connection, record: AuditRecord) -> None:
        db.execute(
            "INSERT INTO records (seq, ts, kind, actor, payload_hash, hash, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.seq,
                record.ts,
                record.kind,
                record.actor,
                record.payload_hash,
                record.hash,
                record.body(),
            ),
        )
        db.executemany(
            "INSERT INTO record_collections (collection, seq) VALUES (?, ?)",
            [(c, record.seq) for c in sorted(collections_of(record.kind, record.data))],
        )

    @staticmethod
    def collection_index(db: sqlite3.Connection) -> dict[int, set[str]]:
        """``record_collections`` as stored: seq -> collections (for ``verify``)."""
        out: dict[int, set[str]] = {}
        for collection, seq in db.execute("SELECT collection, seq FROM record_collections"):
            out.setdefault(seq, set()).add(collection)
        return out

    @staticmethod
    def insert_checkpoint(db: sqlite3.Connection, cp: Checkpoint, frontier: Frontier) -> None:
        db.execute(
            "INSERT INTO checkpoints (tree_size, body, frontier) VALUES (?, ?, ?)",
            (cp.tree_size, cp.to_bytes(), json.dumps(frontier.to_json())),
        )

    @staticmethod
    def truncate_prefix(db: sqlite3.Connection, anchor: Anchor) -> int:
        """Drop records up to the anchor's tree size; the anchor takes their place."""
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('anchor', ?)", (anchor.to_json(),)
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('anchor_size', ?)",
            (str(anchor.tree_size),),
        )
        db.execute("DELETE FROM record_collections WHERE seq <= ?", (anchor.tree_size,))
        return db.execute("DELETE FROM records WHERE seq <= ?", (anchor.tree_size,)).rowcount
