"""The erasable store of personal texts (questions, answers, passages, paths).

The chain is immutable, so it must not hold personal data (EDPB Guidelines
02/2025 on blockchain): a record carries only ``payload_hash``, an HMAC-SHA-256
of the payload under a random 32-byte salt kept *here*, beside the text.
While both exist, ``verify`` proves the text is the one recorded. Erasing a
data subject deletes text and salt together and leaves a tombstone with the
hash: the chain still verifies, and the hash can no longer be linked to any
text -- not even by hashing guesses, which a plain unsalted hash would allow.

Deletion is physical: ``secure_delete`` zeroes freed cells and pages, and a
WAL checkpoint with TRUNCATE empties the write-ahead log that still held them.
The full-text index of questions and answers (the review page's search) lives
here too, kept in step by triggers, and is merged after each erasure so no
erased word survives in an old index segment.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from assistant.audit.chain import connect
from assistant.audit.records import canonical
from assistant.store import sqlite

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payloads (
    hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    salt BLOB NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payloads_subject ON payloads (subject);
CREATE INDEX IF NOT EXISTS payloads_kind_created ON payloads (kind, created_at);
CREATE TABLE IF NOT EXISTS erased (
    hash TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""

# The review page's free-text search: FTS5 over question and answer, kept *here* so that
# erasing a payload erases its words in the same transaction (triggers), never in the chain.
# ``payload_search_ids`` gives each payload a stable integer id (VACUUM may renumber the
# implicit rowids of ``payloads``; an INTEGER PRIMARY KEY it never renumbers).
_SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS payload_search_ids (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE IF NOT EXISTS payload_search USING fts5(
    question, answer, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS payload_search_add AFTER INSERT ON payloads
WHEN json_extract(new.body, '$.question') IS NOT NULL
  OR json_extract(new.body, '$.answer') IS NOT NULL
BEGIN
  INSERT INTO payload_search_ids (hash) VALUES (new.hash);
  INSERT INTO payload_search (rowid, question, answer) VALUES (
    (SELECT id FROM payload_search_ids WHERE hash = new.hash),
    json_extract(new.body, '$.question'),
    json_extract(new.body, '$.answer'));
END;
CREATE TRIGGER IF NOT EXISTS payload_search_drop AFTER DELETE ON payloads
BEGIN
  DELETE FROM payload_search
   WHERE rowid = (SELECT id FROM payload_search_ids WHERE hash = old.hash);
  DELETE FROM payload_search_ids WHERE hash = old.hash;
END;
"""
_SEARCH_BACKFILL = """
INSERT OR IGNORE INTO payload_search_ids (hash)
  SELECT hash FROM payloads WHERE json_extract(body, '$.question') IS NOT NULL
                               OR json_extract(body, '$.answer') IS NOT NULL;
INSERT INTO payload_search (rowid, question, answer)
  SELECT i.id, json_extract(p.body, '$.question'), json_extract(p.body, '$.answer')
    FROM payload_search_ids i JOIN payloads p ON p.hash = i.hash;
"""

#: SQL for a text filter on ``records`` (``?`` is an FTS5 query from ``match_expression``;
#: ``{s}`` the schema the payload store is attached as). How many payloads match decides
#: the plan: few -- look the matching hashes up in ``records_payload`` (work ~ matches);
#: many -- walk the records in the order asked and test each one's payload (work ~ records
#: read until the page is full, short when matches are dense). Each stays under ~50 ms at
#: 100,000 events either side of ``SEARCH_SEEK_MAX``.
SEARCH_COUNT = "SELECT count(*) FROM {s}.payload_search WHERE payload_search MATCH ?"
SEARCH_HASHES = (
    "SELECT i.hash FROM {s}.payload_search f JOIN {s}.payload_search_ids i ON i.id = f.rowid "
    "WHERE f.payload_search MATCH ?"
)
SEARCH_PROBE = (
    "(SELECT i.id FROM {s}.payload_search_ids i WHERE i.hash = payload_hash) IN "
    "(SELECT rowid FROM {s}.payload_search WHERE payload_search MATCH ?)"
)
SEARCH_SEEK_MAX = 5_000
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(text: str) -> str | None:
    """A safe FTS5 query for what someone typed: every word must occur (as a word prefix).
    Each word is quoted, so FTS5 operators and punctuation are taken literally."""
    words = _WORD.findall(text)[:16]
    if not words:
        return None
    return " AND ".join(f'"{w}"*' for w in words)


def commitment(salt: bytes, body: str) -> str:
    return hmac.digest(salt, body.encode("utf-8"), "sha256").hex()


class PayloadStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
        self._ensure_search()

    def _ensure_search(self) -> None:
        """Create the text search index; index the texts stored before it existed, once."""
        with self._write() as db:
            known = db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'payload_search_ids'"
            ).fetchone()
            for statement in _statements(_SEARCH_SCHEMA):
                db.execute(statement)
            if known is None:
                for statement in _statements(_SEARCH_BACKFILL):
                    db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite.transaction(self._db, self._lock)

    def put(self, subject: str, kind: str, created_at: str, personal: dict[str, Any]) -> str:
        """Store ``personal`` and return its commitment (the record's ``payload_hash``)."""
        return self.put_many([(subject, kind, created_at, personal)])[0]

    def put_many(self, items: list[tuple[str, str, str, dict[str, Any]]]) -> list[str]:
        """Store (subject, kind, created_at, personal) items in one transaction (bulk import)."""
        rows = []
        for subject, kind, created_at, personal in items:
            body = canonical(personal).decode("utf-8")
            salt = secrets.token_bytes(32)
            rows.append((commitment(salt, body), subject, kind, created_at, salt, body))
        with self._write() as db:
            db.executemany(
                "INSERT INTO payloads (hash, subject, kind, created_at, salt, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return [r[0] for r in rows]

    def get(self, digest: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM payloads WHERE hash = ?", (digest,)).fetchone()
        return json.loads(row[0]) if row else None

    def erased_reason(self, digest: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reason FROM erased WHERE hash = ?", (digest,)).fetchone()
        return row[0] if row else None

    # -- erasure -----------------------------------------------------------------
    def erase_orphan(self, digest: str) -> None:
        """Drop a payload whose record was never written (the append failed)."""
        with self._write() as db:
            db.execute("DELETE FROM payloads WHERE hash = ?", (digest,))

    def erase_subject(self, subject: str, *, at: str, reason: str) -> int:
        """Erase every payload filed under ``subject`` (the user who asked, or a document)."""
        return self._erase("subject = ?", (subject,), at=at, reason=reason)

    def erase_older(self, kind: str, cutoff: str, *, at: str, reason: str) -> int:
        """Erase payloads of ``kind`` created before ``cutoff`` (retention)."""
        return self._erase("kind = ? AND created_at < ?", (kind, cutoff), at=at, reason=reason)

    def erase_containing(self, needle: str, *, at: str, reason: str) -> int:
        """Erase payloads with any text that contains ``needle`` (case-insensitive).

        For a data subject who is not a user -- a patient named in questions.
        """
        wanted = needle.casefold()
        with self._lock:
            rows = self._db.execute("SELECT hash, body FROM payloads").fetchall()
        hits = [h for h, body in rows if any(wanted in s.casefold() for s in _strings(body))]
        if not hits:
            return 0
        marks = ",".join("?" * len(hits))
        return self._erase(f"hash IN ({marks})", tuple(hits), at=at, reason=reason)

    def _erase(self, where: str, args: tuple[str, ...], *, at: str, reason: str) -> int:
        with self._write() as db:
            gone = [r[0] for r in db.execute(f"SELECT hash FROM payloads WHERE {where}", args)]
            db.executemany(
                "INSERT OR REPLACE INTO erased (hash, erased_at, reason) VALUES (?, ?, ?)",
                [(h, at, reason) for h in gone],
            )
            db.execute(f"DELETE FROM payloads WHERE {where}", args)
        if gone:
            self._purge_search()
            self._flush_wal()
        return len(gone)

    def _purge_search(self) -> None:
        """FTS5 deletes by adding tombstones beside the old index segments (SQLite < 3.42 has
        no 'secure-delete' option): merging every segment into one drops the erased words
        for good, and ``secure_delete`` zeroes the pages the old segments held."""
        with self._write() as db:
            db.execute("INSERT INTO payload_search (payload_search) VALUES ('optimize')")

    def erased_at(self, digest: str) -> tuple[str, str] | None:
        """(when, why) a payload was erased, or None if it never was."""
        with self._lock:
            row = self._db.execute(
                "SELECT erased_at, reason FROM erased WHERE hash = ?", (digest,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def _flush_wal(self) -> None:
        """Copy the zeroed pages into the database file and empty the WAL that held the text."""
        with self._lock:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("a reader held the payload WAL: erased text stays in it until next flush")

    # -- verification --------------------------------------------------------------
    def scan(self) -> Iterator[tuple[str, bytes, str]]:
        """(hash, salt, body) of every payload, on a connection of its own."""
        db = connect(self.path)
        try:
            yield from db.execute("SELECT hash, salt, body FROM payloads")
        finally:
            db.close()

    def erased_hashes(self) -> set[str]:
        db = connect(self.path)
        try:
            return {r[0] for r in db.execute("SELECT hash FROM erased")}
        finally:
            db.close()


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements (triggers included) to run inside one transaction:
    ``executescript`` would commit first."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""


def _strings(body: str) -> Iterator[str]:
    stack: list[Any] = [json.loads(body)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
