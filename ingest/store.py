"""The chunk store: SQLite holds documents, their paths, chunks, vectors and the FTS5 index.

SQLite is the source of truth. The FAISS file (``ingest.index``) is derived
from the vectors kept here and can always be rebuilt from them. A document and
all its chunks are written or removed in one transaction, so a reader sees a
document whole or not at all.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.domain import Chunk, Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    collection TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS doc_paths (
    path TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    collection TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS doc_paths_doc ON doc_paths(doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    vid INTEGER NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    section TEXT,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, chunk_id UNINDEXED);
"""


@dataclass(frozen=True, slots=True)
class PathEntry:
    path: str
    doc_id: str
    collection: str
    mtime_ns: int
    size: int


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reads -----------------------------------------------------------------
    def path_entry(self, path: str) -> PathEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT path, doc_id, collection, mtime_ns, size FROM doc_paths WHERE path = ?",
                (path,),
            ).fetchone()
        return PathEntry(*row) if row else None

    def has_document(self, doc_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return row is not None

    def counts(self) -> dict[str, int]:
        with self._lock:
            docs = self._db.execute("SELECT count(*) FROM documents").fetchone()[0]
            chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            paths = self._db.execute("SELECT count(*) FROM doc_paths").fetchone()[0]
        return {"documents": docs, "chunks": chunks, "paths": paths}

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, title, collection, mime_type, size, ingested_at FROM documents "
                "ORDER BY collection, path"
            ).fetchall()
        return [Document(*r) for r in rows]

    def chunks_for_vids(self, vids: Sequence[int]) -> dict[int, tuple[Chunk, Document]]:
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        with self._lock:
            rows = self._db.execute(
                "SELECT c.vid, c.id, c.doc_id, c.ordinal, c.text, c.page, c.section, "
                "d.id, d.path, d.title, d.collection, d.mime_type, d.size, d.ingested_at "
                f"FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.vid IN ({marks})",
                [int(v) for v in vids],
            ).fetchall()
        return {r[0]: (Chunk(*r[1:7]), Document(*r[7:14])) for r in rows}

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            rows = self._db.execute("SELECT vid, vector FROM chunks ORDER BY vid").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.zeros((len(rows), dim), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            vecs[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, vecs

    def search_text(self, query: str, k: int) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index: (vector id, score), higher is better."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.vid, -bm25(chunks_fts) FROM chunks_fts "
                "JOIN chunks c ON c.id = chunks_fts.chunk_id "
                "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
                (query, k),
            ).fetchall()
        return [(int(v), float(s)) for v, s in rows]

    # -- writes (inside ``transaction()``) ----------------------------------
    @staticmethod
    def insert_document(
        db: sqlite3.Connection, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
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
        db.executemany(
            "INSERT INTO chunks_fts (text, chunk_id) VALUES (?, ?)",
            [(f"{c.section or ''}\n{c.text}", c.id) for c in chunks],
        )

    @staticmethod
    def upsert_path(db: sqlite3.Connection, entry: PathEntry) -> None:
        db.execute(
            "INSERT INTO doc_paths (path, doc_id, collection, mtime_ns, size) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET doc_id=excluded.doc_id, "
            "collection=excluded.collection, mtime_ns=excluded.mtime_ns, size=excluded.size",
            (entry.path, entry.doc_id, entry.collection, entry.mtime_ns, entry.size),
        )

    @staticmethod
    def delete_path(db: sqlite3.Connection, path: str) -> list[int]:
        """Forget ``path``; if no other path holds its document, delete the document too.

        Returns the vector ids that left the store (for removal from FAISS).
        """
        row = db.execute("SELECT doc_id FROM doc_paths WHERE path = ?", (path,)).fetchone()
        if row is None:
            return []
        doc_id = row[0]
        db.execute("DELETE FROM doc_paths WHERE path = ?", (path,))
        others = db.execute(
            "SELECT path FROM doc_paths WHERE doc_id = ? LIMIT 1", (doc_id,)
        ).fetchone()
        if others is not None:
            db.execute(
                "UPDATE documents SET path = ? WHERE id = ? AND path = ?", (others[0], doc_id, path)
            )
            return []
        return Store.delete_document(db, doc_id)

    @staticmethod
    def delete_document(db: sqlite3.Connection, doc_id: str) -> list[int]:
        vids = [r[0] for r in db.execute("SELECT vid FROM chunks WHERE doc_id = ?", (doc_id,))]
        db.execute(
            "DELETE FROM chunks_fts WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?)",
            (doc_id,),
        )
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM doc_paths WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return vids

    def paths_under(self, prefixes: Iterable[str]) -> list[str]:
        out: list[str] = []
        with self._lock:
            for prefix in prefixes:
                out.extend(
                    r[0]
                    for r in self._db.execute(
                        "SELECT path FROM doc_paths WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                        (
                            prefix,
                            prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                            + "/%",
                        ),
                    )
                )
        return out
