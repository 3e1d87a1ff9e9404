"""The reads a question makes: chunks for FAISS hits, ACL filtering, BM25, all vectors.

A reader resolves FAISS hits here *after* searching, so a replacement could slip
between its two steps (old ids found, then the old chunks gone). The old version of a
*replaced* file is therefore kept in ``retired_chunks`` for a second or two
(store/erasure.py): it resolves only while its path has no newer version among the
same hits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Literal

import numpy as np

from assistant.domain import Chunk, Document
from assistant.store.sqlite import Lock

#: The store's two vector spaces: the embedder's, in ``chunks.vector``, and the
#: multilingual embedder's, in ``multilingual_vectors`` (schema 3), under the same vids.
VectorSpace = Literal["primary", "multilingual"]


class RetrievalReads:
    """Mixed into ``Store`` (store/documents.py), which owns the connection and its lock."""

    _db: sqlite3.Connection
    _lock: Lock

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

    def documents_for_vids(self, vids: Sequence[int]) -> dict[int, str]:
        """The document id of each of ``vids`` that has one (live, or retired a moment ago)."""
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        ids = [int(v) for v in vids]
        with self._lock:
            out = dict(
                self._db.execute(
                    f"SELECT vid, doc_id FROM chunks WHERE vid IN ({marks})", ids
                ).fetchall()
            )
            missing = [v for v in ids if v not in out]
            if missing:
                out.update((v, d.id) for v, (_, d) in self._retired(missing, set()).items())
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

    def all_vectors(
        self, dim: int, space: VectorSpace = "primary"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every (vid, vector) of ``space``: the embedder's (``chunks.vector``) or the
        multilingual embedder's (``multilingual_vectors``), to rebuild that FAISS index."""
        table = "chunks" if space == "primary" else "multilingual_vectors"
        with self._lock:
            rows = self._db.execute(f"SELECT vid, vector FROM {table} ORDER BY vid").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.zeros((len(rows), dim), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            vecs[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, vecs

    def vector_ids(self, space: VectorSpace = "primary") -> np.ndarray:
        """The vids ``space`` holds, without their vectors: what its FAISS index must hold."""
        table = "chunks" if space == "primary" else "multilingual_vectors"
        with self._lock:
            rows = self._db.execute(f"SELECT vid FROM {table}").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_of(
        self, dim: int, vids: Sequence[int], space: VectorSpace = "primary"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(vid, vector) of those of ``vids`` that ``space`` holds."""
        table = "chunks" if space == "primary" else "multilingual_vectors"
        rows: list[tuple[int, bytes]] = []
        with self._lock:
            for start in range(0, len(vids), 500):
                part = [int(v) for v in vids[start : start + 500]]
                rows += self._db.execute(
                    f"SELECT vid, vector FROM {table} WHERE vid IN ({','.join('?' * len(part))})",
                    part,
                ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.zeros((len(rows), dim), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            vecs[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, vecs

    def vector_count(self, space: VectorSpace = "primary") -> int:
        """How many vectors ``space`` holds: what its FAISS index must hold."""
        table = "chunks" if space == "primary" else "multilingual_vectors"
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

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
