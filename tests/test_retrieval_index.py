"""The FAISS index follows corpus size: exact below a threshold, IVF above, both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.store.documents import Store
from assistant.store.index import VectorIndex, ivf_lists, ivf_probes

DIM = 32


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_corpus_is_exact_and_large_one_switches_to_ivf(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 1200)
    ids = np.arange(10_000, 11_200, dtype=np.int64)
    index = VectorIndex(tmp_path / "v.faiss", DIM, exact_max=1000)
    index.add(ids[:900], vecs[:900])
    assert index.kind == "exact"
    index.add(ids[900:], vecs[900:])
    assert index.kind == "ivf" and index.ntotal == 1200
    # every stored vector is still found as its own nearest neighbour
    for row in (0, 450, 1199):
        assert index.search(vecs[row], 1)[0][0] == ids[row]


def test_ivf_recall_against_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centres = _unit(rng, 40)
    vecs = centres[rng.integers(0, 40, 3000)] + 0.3 * _unit(rng, 3000)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(3000, dtype=np.int64)
    exact = VectorIndex(tmp_path / "e.faiss", DIM, exact_max=10_000)
    ivf = VectorIndex(tmp_path / "i.faiss", DIM, exact_max=1000)
    exact.add(ids, vecs)
    ivf.add(ids, vecs)
    assert (exact.kind, ivf.kind) == ("exact", "ivf")
    queries = _unit(rng, 50)
    found = [
        len({i for i, _ in ivf.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) / 10
        for q in queries
    ]
    assert np.mean(found) >= 0.9


def test_ivf_removes_ids_and_shrinks_back_to_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vecs = _unit(rng, 1500)
    ids = np.arange(1500, dtype=np.int64)
    index = VectorIndex(tmp_path / "v.faiss", DIM, exact_max=1000)
    index.add(ids, vecs)
    assert index.kind == "ivf"
    assert index.remove(list(range(0, 800))) == 800
    assert index.kind == "ivf"  # 700 > half the threshold: no flapping
    assert all(i >= 800 for i, _ in index.search(vecs[10], 20))
    index.remove(list(range(800, 1100)))
    assert index.kind == "exact" and index.ntotal == 400
    assert index.search(vecs[1200], 1)[0][0] == 1200


def test_vectors_reads_back_stored_rows_of_either_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 1100)
    ids = np.arange(1100, dtype=np.int64)
    for exact_max in (10_000, 1000):
        index = VectorIndex(tmp_path / f"v{exact_max}.faiss", DIM, exact_max=exact_max)
        index.add(ids, vecs)
        got = index.vectors([5, 77, 123_456])
        assert sorted(got) == [5, 77]
        assert np.allclose(got[77], vecs[77], atol=1e-6)


def test_open_rebuilds_the_kind_that_fits_and_reloads_a_saved_ivf(tmp_path: Path) -> None:
    store = Store(tmp_path / "chunks.sqlite")
    path = tmp_path / "v.faiss"
    rng = np.random.default_rng(4)
    vecs = _unit(rng, 1100)
    ids = np.arange(1100, dtype=np.int64)
    big = VectorIndex(path, DIM, exact_max=1000)
    big.add(ids, vecs)
    big.save()
    # the store is empty, so the saved file is out of step: rebuilt (empty, exact)
    reopened = VectorIndex.open(path, DIM, store, exact_max=1000)
    assert reopened.ntotal == 0 and reopened.kind == "exact"
    store.close()


def test_ivf_sizes() -> None:
    assert ivf_lists(100_000) == 316
    assert ivf_probes(ivf_lists(100_000)) == 16
    assert ivf_probes(ivf_lists(1_000_000)) == 31
    assert ivf_probes(16) == 16
