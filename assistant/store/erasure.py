"""Erasure in the chunk store, inside the caller's ``Store.transaction()``.

Removing a path removes its document once no other path holds it; the document's
chunk rows go at once and their FTS rows are queued (store/fts_purge.py), so no read
reaches them from the commit on. A *replaced* file's old version is kept in
``retired_chunks`` for a moment (``retire``): a reader between its FAISS search and
its chunk lookup still resolves it (store/reads.py); ``writes.purge_retired`` then
deletes it. Erasure proper keeps nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from assistant.store.writes import bump_generation


@dataclass(frozen=True, slots=True)
class Unlinked:
    """What removing one path did: the vectors that left, and whether its document went too."""

    doc_id: str
    vids: list[int]
    document_deleted: bool


def delete_path(db: sqlite3.Connection, path: str) -> list[int]:
    """Forget ``path``; if no other path holds its document, delete the document too.

    Returns the vector ids that left the store (for removal from FAISS).
    """
    unlinked = unlink_path(db, path)
    return unlinked.vids if unlinked else []


def unlink_path(db: sqlite3.Connection, path: str, *, retire: bool = False) -> Unlinked | None:
    """``delete_path``, telling also which document it was and whether it went.

    ``retire``: the path gets a new version now; keep the old one resolvable briefly.
    """
    row = db.execute("SELECT doc_id FROM doc_paths WHERE path = ?", (path,)).fetchone()
    if row is None:
        return None
    doc_id = row[0]
    db.execute("DELETE FROM doc_paths WHERE path = ?", (path,))
    others = db.execute(
        "SELECT path FROM doc_paths WHERE doc_id = ? ORDER BY path LIMIT 1", (doc_id,)
    ).fetchone()
    if others is not None:
        db.execute(
            "UPDATE documents SET path = ? WHERE id = ? AND path = ?", (others[0], doc_id, path)
        )
        return Unlinked(doc_id, [], False)
    if retire:
        _retire(db, doc_id, path)
    return Unlinked(doc_id, delete_document(db, doc_id), True)


def _retire(db: sqlite3.Connection, doc_id: str, path: str) -> None:
    rows = db.execute(
        "SELECT c.vid, c.id, c.doc_id, c.ordinal, c.text, c.page, c.section, "
        "d.id, d.path, d.title, d.collection, d.mime_type, d.size, d.ingested_at "
        "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.doc_id = ?",
        (doc_id,),
    ).fetchall()
    now = time.time()
    db.executemany(
        "INSERT OR REPLACE INTO retired_chunks (vid, path, retired_at, chunk, document) "
        "VALUES (?, ?, ?, ?, ?)",
        [(r[0], path, now, json.dumps(r[1:7]), json.dumps(r[7:14])) for r in rows],
    )


def delete_document(db: sqlite3.Connection, doc_id: str) -> list[int]:
    """Delete a document and its chunks; queue their FTS rows (assistant/store/fts_purge.py).

    FTS5 re-tokenises a row to delete it; that work leaves the erasure's critical
    path. The rows are unreachable from this commit: ``search_text`` skips them.
    The chunks' multilingual vectors go with them (``ON DELETE CASCADE``, schema 3);
    the caller removes the vids from both FAISS indexes.
    """
    vids = [r[0] for r in db.execute("SELECT vid FROM chunks WHERE doc_id = ?", (doc_id,))]
    if vids:
        db.execute(
            "INSERT OR IGNORE INTO fts_purge (vid) SELECT vid FROM chunks WHERE doc_id = ?",
            (doc_id,),
        )
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        bump_generation(db)
    db.execute("DELETE FROM doc_paths WHERE doc_id = ?", (doc_id,))
    db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
    return vids
