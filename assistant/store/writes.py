"""Ingest's writes to the chunk store, each inside the caller's ``Store.transaction()``.

A document and all its chunks go in one transaction, FTS rows and multilingual
vectors with them (those are deleted with their chunk: ``ON DELETE CASCADE``), and every
change to the chunk set bumps the store's ``generation`` (store/recovery.py
compares it with the one the FAISS file was saved at).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import numpy as np

from assistant.domain import Chunk, Document
from assistant.store.documents import PathEntry, Store


def insert_document(
    db: sqlite3.Connection,
    doc: Document,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    multilingual: np.ndarray | None = None,
) -> None:
    """The document, its chunks with their vectors (and their ``multilingual`` ones, when
    the second embedder is on), and their FTS rows."""
    db.execute(
        "INSERT INTO documents (id, path, title, collection, mime_type, size, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (doc.id, doc.path, doc.title, doc.collection, doc.mime_type, doc.size, doc.ingested_at),
    )
    db.executemany(
        "INSERT INTO chunks (id, vid, doc_id, ordinal, text, page, section, vector) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c.id,
                c.vector_id,
                c.doc_id,
                c.ordinal,
                c.text,
                c.page,
                c.section,
                vectors[i].tobytes(),
            )
            for i, c in enumerate(chunks)
        ],
    )
    if multilingual is not None:
        db.executemany(
            "INSERT INTO multilingual_vectors (vid, vector) VALUES (?, ?)",
            [(c.vector_id, multilingual[i].tobytes()) for i, c in enumerate(chunks)],
        )
    if db.execute("SELECT 1 FROM fts_purge LIMIT 1").fetchone() is not None:
        # the same document erased a moment ago: its queued rows hold these rowids
        db.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT p.vid FROM fts_purge p "
            "JOIN chunks c ON c.vid = p.vid WHERE c.doc_id = ?)",
            (doc.id,),
        )
        db.execute(
            "DELETE FROM fts_purge WHERE vid IN (SELECT vid FROM chunks WHERE doc_id = ?)",
            (doc.id,),
        )
    # One statement, not one per row: FTS5 writes its pending changes out as a new
    # segment at every statement start, so row-by-row costs a segment (and merge
    # work) per chunk -- 2.5-4x slower for a large document.
    db.execute(
        "INSERT INTO chunks_fts (rowid, text, chunk_id) "
        "SELECT vid, index_text(section, text), id FROM chunks WHERE doc_id = ?",
        (doc.id,),
    )
    bump_generation(db)


def insert_multilingual(db: sqlite3.Connection, vids: Sequence[int], vectors: np.ndarray) -> None:
    """Multilingual vectors of chunks stored without them (ingest/multilingual.py). The set
    of chunks is unchanged, so the generation is too: the multilingual index's own count
    tells a crash before its save (store/recovery.py)."""
    db.executemany(
        "INSERT INTO multilingual_vectors (vid, vector) VALUES (?, ?)",
        [(int(v), vectors[i].tobytes()) for i, v in enumerate(vids)],
    )


def bump_generation(db: sqlite3.Connection) -> None:
    db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")


def replace_vectors(db: sqlite3.Connection, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Give the chunks ``ids`` (vector ids) new ``vectors``, row for row; returns how many
    rows changed. The caller binds the new embedder and bumps the generation with them."""
    cur = db.executemany(
        "UPDATE chunks SET vector = ? WHERE vid = ?",
        (
            (np.ascontiguousarray(v, dtype=np.float32).tobytes(), int(i))
            for i, v in zip(ids, vectors, strict=True)
        ),
    )
    return int(cur.rowcount)


def set_embedder(db: sqlite3.Connection, name: str) -> None:
    """Record ``name`` as the embedder of the store's vectors (``Store.bind_embedder``
    checks it; only a re-embedding changes it)."""
    db.execute("INSERT OR REPLACE INTO meta_text (key, value) VALUES ('embedder', ?)", (name,))


def upsert_path(db: sqlite3.Connection, entry: PathEntry) -> None:
    db.execute(
        "INSERT INTO doc_paths (path, doc_id, collection, mtime_ns, size) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET doc_id=excluded.doc_id, "
        "collection=excluded.collection, mtime_ns=excluded.mtime_ns, size=excluded.size",
        (entry.path, entry.doc_id, entry.collection, entry.mtime_ns, entry.size),
    )


def purge_retired(store: Store, older_than_s: float = 1.0) -> int:
    """Delete retired old versions once no reader can still be between its two steps."""
    with store.connection() as db:
        if db.execute("SELECT 1 FROM retired_chunks LIMIT 1").fetchone() is None:
            return 0
    with store.transaction() as db:
        cur = db.execute(
            "DELETE FROM retired_chunks WHERE retired_at <= ?", (time.time() - older_than_s,)
        )
    return cur.rowcount
