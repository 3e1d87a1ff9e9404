"""The FAISS vector index: stable integer ids, atomic saves, rebuilt from the store on mismatch.

The index type follows the corpus size. Up to ``exact_max`` vectors a flat
(exact) index is both simplest and fast enough (about 8 ms per query at 5e4 x
384 on one core). Above it, an inverted-file index (IVF-Flat) scans only the
``nprobe`` nearest of about √n clusters. IVF rather than HNSW because IVF
can *remove* ids: erasure must take a document's vectors out at once, and
HNSW cannot delete. The bench (tests/bench/bench_retrieval.py) checks the IVF
recall against exact search. Single queries run on one OpenMP thread: a
second thread only adds overhead to a one-row search.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from assistant.store.documents import Store
from assistant.store.reads import VectorSpace

#: Above this many vectors the index switches to IVF; below half of it, back to exact.
DEFAULT_EXACT_MAX = 50_000
#: Training sample per cluster (FAISS warns below 39): k-means on a sample, not on
#: every vector, so 1e6 vectors train in seconds; the sample's recall is checked by the bench.
_TRAIN_PER_LIST = 40

IndexKind = Literal["exact", "ivf"]

#: IVF keeps an id -> position hash, so ids can be reconstructed and removed.
_HASHTABLE = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]


def ivf_lists(n: int) -> int:
    """About √n clusters, at least 16.

    Adding a vector costs a scan of every centroid, so the build grows with
    n·nlist: 4·√n lists took minutes to add 1e6 vectors on 2 cores, √n takes
    seconds, and a probe still reads only ~√n vectors.
    """
    return max(16, int(math.sqrt(max(n, 1))))


def ivf_probes(nlist: int) -> int:
    """Clusters scanned per query: a thirty-second of them, at least 16.

    An eighth cost ~40 ms per query at 1e6 (it reads an eighth of the corpus);
    a thirty-second keeps recall@10 ≥ 0.95 in the bench (tests/bench/bench_retrieval.py).
    """
    return min(nlist, max(16, nlist // 32))


class VectorIndex:
    """Inner-product (cosine, on normalised rows) search under the chunks' stable vector ids."""

    def __init__(
        self,
        path: Path,
        dim: int,
        *,
        exact_max: int = DEFAULT_EXACT_MAX,
        space: VectorSpace = "primary",
    ) -> None:
        self.path = path
        self.dim = dim
        self.exact_max = exact_max
        self.space = space  # which of the store's vectors it holds (store/reads.py)
        self._lock = threading.RLock()
        self._index: Any = self._flat()

    def _flat(self) -> Any:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _ivf(self, ids: np.ndarray, vecs: np.ndarray) -> Any:
        nlist = ivf_lists(len(ids))
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        n_train = min(len(vecs), nlist * _TRAIN_PER_LIST)
        sample = vecs
        if n_train < len(vecs):
            sample = vecs[rng.choice(len(vecs), n_train, replace=False)]
        faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))  # training is a batch job
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.set_direct_map_type(_HASHTABLE)  # reconstruct and remove by id
        index.nprobe = ivf_probes(nlist)
        index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids.astype(np.int64))
        return index

    def _build(self, ids: np.ndarray, vecs: np.ndarray) -> Any:
        if len(ids) > self.exact_max:
            return self._ivf(ids, vecs)
        index = self._flat()
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids.astype(np.int64))
        return index

    @property
    def kind(self) -> IndexKind:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    def _kind_fits(self, index: Any) -> bool:
        """Exact up to ``exact_max``; IVF above, and kept down to half of it (no flapping)."""
        n = int(index.ntotal)
        if isinstance(index, faiss.IndexIVF):
            return n > self.exact_max // 2
        return n <= self.exact_max

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def open(
        cls,
        path: Path,
        dim: int,
        store: Store,
        *,
        exact_max: int = DEFAULT_EXACT_MAX,
        space: VectorSpace = "primary",
    ) -> VectorIndex:
        """Load the saved index; rebuild it from the store if missing, stale or the wrong kind."""
        index = cls(path, dim, exact_max=exact_max, space=space)
        expected = store.vector_count(space)
        if path.exists():
            try:
                loaded = faiss.read_index(str(path))
                if loaded.d == dim and loaded.ntotal == expected and index._kind_fits(loaded):
                    if isinstance(loaded, faiss.IndexIVF):
                        loaded.set_direct_map_type(_HASHTABLE)
                        loaded.nprobe = ivf_probes(loaded.nlist)
                    index._index = loaded
                    return index
            except RuntimeError:
                pass  # unreadable file: rebuild below
        index.rebuild(store)
        return index

    def rebuild(self, store: Store) -> None:
        ids, vecs = store.all_vectors(self.dim, self.space)
        with self._lock:
            self.load(ids, vecs)
            self.save()

    def load(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold exactly ``vectors`` under ``ids``, in an index of the kind their count
        calls for; in memory only (``save`` writes it)."""
        with self._lock:
            self._index = self._build(np.asarray(ids, dtype=np.int64), vectors)

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) held, for a change of index kind."""
        index = self._index
        n = int(index.ntotal)
        if isinstance(index, faiss.IndexIVF):
            invlists = index.invlists
            assert invlists is not None
            ids_parts, vec_parts = [], []
            for lst in range(index.nlist):
                size = invlists.list_size(lst)
                if not size:
                    continue
                ids_parts.append(
                    faiss.rev_swig_ptr(invlists.get_ids(lst), size).astype(np.int64).copy()
                )
                codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * self.dim * 4)
                vec_parts.append(np.frombuffer(codes.tobytes(), dtype=np.float32).reshape(size, -1))
            if not ids_parts:
                return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
            return np.concatenate(ids_parts), np.concatenate(vec_parts)
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vecs = index.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)
        return ids, np.asarray(vecs, dtype=np.float32)

    def _refit(self) -> None:
        """Switch kind when the corpus crossed the threshold since the last build."""
        if not self._kind_fits(self._index):
            ids, vecs = self._all()
            self._index = self._build(ids, vecs)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )
            self._refit()

    def remove(self, ids: list[int]) -> int:
        if not ids:
            return 0
        with self._lock:
            removed = int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))
            self._refit()
            return removed

    def ids(self) -> np.ndarray:
        """Every vid held."""
        with self._lock:
            index = self._index
            if not isinstance(index, faiss.IndexIVF):
                return faiss.vector_to_array(index.id_map).astype(np.int64)
            lists = index.invlists
            assert lists is not None
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(i), n).astype(np.int64).copy()
                for i in range(index.nlist)
                if (n := lists.list_size(i))
            ]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def follow(
        self, store: Store, *, unless: Callable[[], bool] | None = None
    ) -> tuple[int, int] | None:
        """Hold what ``store`` holds now, reading only what changed: the vectors of vids it
        gained and the vids it lost (another process committed them). (added, removed), or
        None when ``unless()`` says, under the index's lock, that this process writes the
        index itself now: its writer adds a file's vectors before its store commit, and
        would see them taken out again (store/follow.py)."""
        with self._lock:
            if unless is not None and unless():
                return None
            held, stored = self.ids(), store.vector_ids(self.space)
            gone = np.setdiff1d(held, stored, assume_unique=True)
            new = np.setdiff1d(stored, held, assume_unique=True)
            if len(gone):
                self._index.remove_ids(gone)
            if len(new):
                ids, vecs = store.vectors_of(self.dim, new.tolist(), self.space)
                self._index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids)
            self._refit()
            return len(new), len(gone)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock:
            if self._index.ntotal == 0 or k <= 0:
                return []
            faiss.omp_set_num_threads(1)  # one query: a second thread only adds overhead
            scores, ids = self._index.search(
                np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        """The stored vectors of ``ids`` (those present), to score candidates found elsewhere."""
        out: dict[int, np.ndarray] = {}
        with self._lock:
            for i in ids:
                try:
                    out[i] = np.asarray(self._index.reconstruct(int(i)), dtype=np.float32)
                except RuntimeError:
                    continue  # not in the index
        return out

    def save(self) -> None:
        """Write a temporary file, fsync, then ``os.replace``: nobody reads half a file."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            faiss.write_index(self._index, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
