"""The chunk store: SQLite holds documents, their paths, chunks, vectors and the FTS5 index.

SQLite is the source of truth. The FAISS file (``assistant.store.index``) is derived
from the vectors kept here and can always be rebuilt from them. A document and
all its chunks are written or removed in one transaction, so a reader sees a
document whole or not at all.

Every change to the chunk set bumps ``generation``; the FAISS file records the
generation it was saved at (assistant/store/recovery.py), so a crash between a commit
here and a FAISS save is always detected, even when the counts happen to match.
FTS rows carry the chunk's vector id as their rowid. Erasing a document deletes
its chunk rows and queues their ids in ``fts_purge``: from that commit no read
reaches the FTS rows (``search_text`` leaves queued ids out), and
assistant/store/fts_purge.py deletes them right after and merges their terms out of the
index. ``secure_delete`` overwrites the freed pages: erased text does not linger
in the file.

A reader resolves FAISS hits here *after* searching, so a replacement could
slip between its two steps (old ids found, then the old chunks gone). The old
version of a *replaced* file is therefore kept in ``retired_chunks`` for a
second or two: it resolves only while its path has no newer version among the
same hits, and ``purge_retired`` then deletes it. Erasure keeps nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.domain import Chunk, Document
from assistant.errors import EmbedderMismatch
from assistant.store import sqlite
from assistant.text.analysis import index_text

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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retired_chunks (
    vid INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    retired_at REAL NOT NULL,
    chunk TEXT NOT NULL,
    document TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS meta_text (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fts_purge (vid INTEGER PRIMARY KEY);
"""

#: Schema 2: FTS rowid = chunk vid (schema 1 used automatic rowids).
SCHEMA_VERSION = 2

#: FTS5 buffers pending changes in memory and writes them out as a new segment when
#: the buffer passes ``hashsize`` (default 1 MiB), and at every statement boundary.
#: One statement writing (or purging) a 10 MB document's rows queues ~15 MB: with the
#: default it leaves as a dozen small segments mid-statement, each paying merge work.
#: The buffer grows only as far as one statement needs.
FTS_HASHSIZE = 64 * 2**20
#: Page size of a new store. A chunk row (text + 1.5 KB vector) fills most of a 4 KB page,
#: so erasing 18k chunks freed -- and, with ``secure_delete``, zeroed and wrote -- 18k
#: pages; at 16 KB, rows share pages and deleting them costs half the CPU and I/O.
#: An existing store keeps its size (changing it needs a VACUUM).
PAGE_SIZE = 16384
#: Page cache of the connection, KiB (SQLite's default is 2 MiB): a 10 MB document's
#: rows and index entries are changed in one transaction without spilling to the WAL.
CACHE_KIB = 64 * 1024


@dataclass(frozen=True, slots=True)
class Unlinked:
    """What removing one path did: the vectors that left, and whether its document went too."""

    doc_id: str
    vids: list[int]
    document_deleted: bool


@dataclass(frozen=True, slots=True)
class CollectionCounts:
    name: str
    documents: int
    chunks: int


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
        self._db = sqlite.connect(
            path,
            secure_delete=True,
            pragmas=(f"page_size={PAGE_SIZE}", "foreign_keys=ON", f"cache_size=-{CACHE_KIB}"),
        )
        # FTS rows are written by one INSERT ... SELECT per document (see insert_document)
        self._db.create_function("index_text", 2, index_text, deterministic=True)
        self._db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT v FROM chunks_fts_config WHERE k = 'hashsize'").fetchone()
            if row is None or row[0] != FTS_HASHSIZE:
                db.execute(
                    "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('hashsize', ?)",
                    (FTS_HASHSIZE,),
                )
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is not None and row[0] >= SCHEMA_VERSION:
                return
            db.execute("DELETE FROM chunks_fts")
            db.execute("DELETE FROM fts_purge")
            db.execute(
                "INSERT INTO chunks_fts (rowid, text, chunk_id) "
                "SELECT vid, index_text(section, text), id FROM chunks"
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
            )

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads outside a transaction (other modules' own tables)."""
        with self._lock:
            yield self._db

    def checkpoint(self) -> None:
        """Fold the WAL into the database file and truncate it (after an erasure)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite.transaction(self._db, self._lock)

    # -- reads -----------------------------------------------------------------
    def path_entry(self, path: str) -> PathEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT path, doc_id, collection, mtime_ns, size FROM doc_paths WHERE path = ?",
                (path,),
            ).fetchone()
        return PathEntry(*row) if row else None

    def generation(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
            )

    def embedder_name(self) -> str | None:
        """The embedder (model@backend) whose vectors this store holds, if recorded."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta_text WHERE key = 'embedder'").fetchone()
        return str(row[0]) if row else None

    def bind_embedder(self, name: str) -> None:
        """Record ``name`` as the store's embedder, or refuse if the vectors came from another.

        Vectors of two models -- or of one model through torch and through int8
        ONNX -- are not interchangeable: queries must be embedded like the
        documents were. A store with chunks but no record predates the record
        and is refused too: nobody can tell what made its vectors.
        """
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta_text WHERE key = 'embedder'").fetchone()
            if row is None:
                if db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None:
                    db.execute("INSERT INTO meta_text (key, value) VALUES ('embedder', ?)", (name,))
                    return
                recorded = "an unrecorded embedder (an index made before embedders were recorded)"
            elif row[0] == name:
                return
            else:
                recorded = repr(row[0])
        raise EmbedderMismatch(
            f"the index in {self.path.parent} holds vectors from {recorded}, "
            f"not from {name!r}: queries and documents must use one embedder",
            hint="set embedding_model / embedding_backend back to what made the index, or "
            f"delete {self.path.parent} and ingest the documents again",
        )

    def document(self, doc_id: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, path, title, collection, mime_type, size, ingested_at FROM documents "
                "WHERE id = ?",
                (doc_id,),
            ).fetchone()
        return Document(*row) if row else None

    def doc_ids_like(self, prefix: str) -> list[str]:
        """Document ids starting with ``prefix`` (hex), for ``forget DOC_ID``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM documents WHERE id >= ? AND id < ? ORDER BY id",
                (prefix, prefix + "g"),
            ).fetchall()
        return [r[0] for r in rows]

    def paths_of(self, doc_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path FROM doc_paths WHERE doc_id = ? ORDER BY path", (doc_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def path_entries(self) -> list[PathEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, doc_id, collection, mtime_ns, size FROM doc_paths ORDER BY path"
            ).fetchall()
        return [PathEntry(*r) for r in rows]

    def chunk_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM chunks ORDER BY id")]

    def collections(self) -> list[CollectionCounts]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.collection, count(DISTINCT d.id), count(c.id) FROM documents d "
                "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.collection ORDER BY 1"
            ).fetchall()
        return [CollectionCounts(*r) for r in rows]

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
            out = {r[0]: (Chunk(*r[1:7]), Document(*r[7:14])) for r in rows}
            missing = [int(v) for v in vids if v not in out]
            if missing:
                out.update(self._retired(missing, {d.id for _, d in out.values()}))
        return out

    def _retired(self, vids: list[int], live_docs: set[str]) -> dict[int, tuple[Chunk, Document]]:
        """Old versions of replaced files, unless their newer version is among the hits."""
        marks = ",".join("?" * len(vids))
        rows = self._db.execute(
            "SELECT r.vid, r.chunk, r.document, p.doc_id FROM retired_chunks r "
            f"LEFT JOIN doc_paths p ON p.path = r.path WHERE r.vid IN ({marks})",
            vids,
        ).fetchall()
        return {
            vid: (Chunk(*json.loads(chunk)), Document(*json.loads(doc)))
            for vid, chunk, doc, current in rows
            if current not in live_docs
        }

    def purge_retired(self, older_than_s: float = 1.0) -> int:
        """Delete retired old versions once no reader can still be between its two steps."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM retired_chunks LIMIT 1").fetchone() is None:
                return 0
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM retired_chunks WHERE retired_at <= ?", (time.time() - older_than_s,)
            )
        return cur.rowcount

    def vids_in_collections(self, vids: Sequence[int], collections: frozenset[str]) -> set[int]:
        """The subset of ``vids`` whose documents belong to ``collections`` (access control)."""
        if not vids or not collections:
            return set()
        cmarks = ",".join("?" * len(collections))
        found: set[int] = set()
        with self._lock:
            for start in range(0, len(vids), 500):
                part = [int(v) for v in vids[start : start + 500]]
                rows = self._db.execute(
                    "SELECT c.vid FROM chunks c JOIN documents d ON d.id = c.doc_id "
                    f"WHERE c.vid IN ({','.join('?' * len(part))}) AND d.collection IN ({cmarks})",
                    [*part, *sorted(collections)],
                ).fetchall()
                found.update(int(r[0]) for r in rows)
                rows = self._db.execute(  # old versions of replaced files (see _retired)
                    "SELECT vid, document FROM retired_chunks "
                    f"WHERE vid IN ({','.join('?' * len(part))})",
                    part,
                ).fetchall()
                found.update(int(v) for v, d in rows if json.loads(d)[3] in collections)
        return found

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            rows = self._db.execute("SELECT vid, vector FROM chunks ORDER BY vid").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.zeros((len(rows), dim), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            vecs[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, vecs

    def search_text(self, query: str, k: int) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index: (vector id, score), higher is better.

        The FTS rowid *is* the vector id (schema 2), so no join: joining ``chunks``
        by ``chunk_id`` cost a text-key lookup for every matching row before the
        sort, 3-5x the whole query at 1e5 chunks (tests/bench/bench_retrieval.py).
        Rows an erasure queued for assistant/store/fts_purge.py are left out (an integer-key
        probe of a table that is empty but for a second after an erasure).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts "
                "WHERE chunks_fts MATCH ? AND rowid NOT IN (SELECT vid FROM fts_purge) "
                "ORDER BY bm25(chunks_fts) LIMIT ?",
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
        Store._bump(db)

    @staticmethod
    def _bump(db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")

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
        unlinked = Store.unlink_path(db, path)
        return unlinked.vids if unlinked else []

    @staticmethod
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
            Store._retire(db, doc_id, path)
        return Unlinked(doc_id, Store.delete_document(db, doc_id), True)

    @staticmethod
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

    @staticmethod
    def delete_document(db: sqlite3.Connection, doc_id: str) -> list[int]:
        """Delete a document and its chunks; queue their FTS rows (assistant/store/fts_purge.py).

        FTS5 re-tokenises a row to delete it; that work leaves the erasure's critical
        path. The rows are unreachable from this commit: ``search_text`` skips them.
        """
        vids = [r[0] for r in db.execute("SELECT vid FROM chunks WHERE doc_id = ?", (doc_id,))]
        if vids:
            db.execute(
                "INSERT OR IGNORE INTO fts_purge (vid) SELECT vid FROM chunks WHERE doc_id = ?",
                (doc_id,),
            )
            db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            Store._bump(db)
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
