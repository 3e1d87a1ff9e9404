"""The chunk store: SQLite holds documents, their paths, chunks, vectors and the FTS5 index.

SQLite is the source of truth. The FAISS file (``assistant.store.index``) is derived
from the vectors kept here and can always be rebuilt from them. ``Store`` owns the
one connection and is split by role across the folder:

- here: the connection, its transactions, the embedder binding, and the catalogue
  (documents, paths, counts) that the CLI, the pages and ingest's checks read;
- ``reads.py``: what a question reads (chunks for FAISS hits, ACL filter, BM25);
- ``writes.py``: what ingest writes, inside ``transaction()``;
- ``erasure.py``: removing paths and documents, inside ``transaction()``;
- ``schema.py``: the tables and their migrations.

Every change to the chunk set bumps ``generation``; the FAISS file records the
generation it was saved at (assistant/store/recovery.py), so a crash between a commit
here and a FAISS save is always detected, even when the counts happen to match.
FTS rows carry the chunk's vector id as their rowid. ``secure_delete`` overwrites the
freed pages: erased text does not linger in the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.domain import Chunk, Document
from assistant.errors import EmbedderMismatch
from assistant.store import sqlite
from assistant.store.reads import RetrievalReads
from assistant.store.schema import open_database


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


class Store(RetrievalReads):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = open_database(path, self._lock)

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

    # -- the catalogue ---------------------------------------------------------
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
            "run `assistant reembed` to re-embed every chunk with the configured embedder",
        )

    def multilingual_embedder_name(self) -> str | None:
        """The multilingual embedder whose vectors ``multilingual_vectors`` holds, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta_text WHERE key = 'multilingual_embedder'"
            ).fetchone()
        return str(row[0]) if row else None

    def bind_multilingual_embedder(self, name: str) -> None:
        """``bind_embedder`` for the second, multilingual vectors (``multilingual_vectors``).

        Chunks with no multilingual vector (stored before schema 3, or while the setting
        was off) do not stand in the way: they are missing, not wrong, and are counted by
        ``multilingual_missing`` until they are filled (ingest/multilingual.py).
        """
        with self.transaction() as db:
            row = db.execute(
                "SELECT value FROM meta_text WHERE key = 'multilingual_embedder'"
            ).fetchone()
            if row is not None and row[0] == name:
                return
            if db.execute("SELECT 1 FROM multilingual_vectors LIMIT 1").fetchone() is None:
                db.execute(  # no vector to disagree with
                    "INSERT OR REPLACE INTO meta_text (key, value) "
                    "VALUES ('multilingual_embedder', ?)",
                    (name,),
                )
                return
            recorded = repr(row[0]) if row is not None else "an unrecorded embedder"
        raise EmbedderMismatch(
            f"the multilingual index in {self.path.parent} holds vectors from {recorded}, "
            f"not from {name!r}: queries and documents must use one embedder",
            hint="set multilingual_embedding_model back to what made the index, or clear its "
            "vectors (Store.clear_multilingual) and run `assistant reembed` to fill them again",
        )

    def clear_multilingual(self) -> None:
        """Forget every multilingual vector and the embedder that made them (to re-embed)."""
        with self.transaction() as db:
            db.execute("DELETE FROM multilingual_vectors")
            db.execute("DELETE FROM meta_text WHERE key = 'multilingual_embedder'")

    def multilingual_missing(self) -> int:
        """Chunks without a multilingual vector: stored before schema 3 or with the setting
        off. The retriever leaves the multilingual index aside until this is 0."""
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT count(*) FROM chunks c WHERE NOT EXISTS "
                    "(SELECT 1 FROM multilingual_vectors m WHERE m.vid = c.vid)"
                ).fetchone()[0]
            )

    def chunks_missing_multilingual(self, limit: int) -> list[Chunk]:
        """Up to ``limit`` chunks that have no multilingual vector yet, in vid order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, doc_id, ordinal, text, page, section FROM chunks c WHERE NOT EXISTS "
                "(SELECT 1 FROM multilingual_vectors m WHERE m.vid = c.vid) ORDER BY vid LIMIT ?",
                (limit,),
            ).fetchall()
        return [Chunk(*r) for r in rows]

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

    def chunks_after(self, vid: int, limit: int) -> list[tuple[int, Chunk]]:
        """Up to ``limit`` chunks with a vector id above ``vid``, in vid order: every chunk,
        page by page, for a re-embedding (ingest/reembed.py)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT vid, id, doc_id, ordinal, text, page, section FROM chunks "
                "WHERE vid > ? ORDER BY vid LIMIT ?",
                (vid, limit),
            ).fetchall()
        return [(int(r[0]), Chunk(*r[1:])) for r in rows]

    def chunk_vids(self, collection: str | None = None, *, min_chars: int = 0) -> list[int]:
        """Vector ids of the chunks (of ``collection``) holding ``min_chars`` or more."""
        sql = "SELECT c.vid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE "
        sql += "length(c.text) >= ?" + (" AND d.collection = ?" if collection else "")
        args: tuple[object, ...] = (min_chars, collection) if collection else (min_chars,)
        with self._lock:
            return [int(r[0]) for r in self._db.execute(sql + " ORDER BY c.vid", args)]

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
