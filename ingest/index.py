"""The FAISS vector index: stable integer ids, atomic saves, rebuilt from the store on mismatch."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ingest.store import Store


class VectorIndex:
    """Inner-product (cosine, on normalised rows) search under the chunks' stable vector ids."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self._lock = threading.RLock()
        self._index: Any = self._empty()

    def _empty(self) -> Any:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def open(cls, path: Path, dim: int, store: Store) -> VectorIndex:
        """Load the saved index; rebuild it from the store when it is missing or out of step."""
        index = cls(path, dim)
        expected = store.counts()["chunks"]
        if path.exists():
            try:
                loaded = faiss.read_index(str(path))
                if loaded.d == dim and loaded.ntotal == expected:
                    index._index = loaded
                    return index
            except RuntimeError:
                pass  # unreadable file: rebuild below
        index.rebuild(store)
        return index

    def rebuild(self, store: Store) -> None:
        ids, vecs = store.all_vectors(self.dim)
        with self._lock:
            self._index = self._empty()
            if len(ids):
                self._index.add_with_ids(vecs, ids)
            self.save()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )

    def remove(self, ids: list[int]) -> int:
        if not ids:
            return 0
        with self._lock:
            return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock:
            if self._index.ntotal == 0:
                return []
            faiss.omp_set_num_threads(1)  # one query: a second thread only adds overhead
            scores, ids = self._index.search(
                np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self) -> None:
        """Write a temporary file, fsync, then ``os.replace``: nobody reads half a file."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            faiss.write_index(self._index, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
