"""Retrieval figures (issue 4 item 1): the FAISS index kind by corpus size, checked against
exact search, and the one-thread rule for single queries.

``VectorIndex`` is exact (flat) up to ``exact_max`` vectors and IVF-Flat above
(IVF rather than HNSW because erasure must remove ids, which HNSW cannot). At
1e5 x 384 both kinds are built from the same vectors through ``VectorIndex``
itself; queries are near-copies of stored rows, as real questions sit near their
passages. The vectors are synthetic, clustered like sentence embeddings (300
centres, unit norm), so the figures do not depend on any model.

Retrieval *quality* (recall@5, nDCG@10 of hybrid vs BM25 vs dense) is the eval's
business: ``make eval`` writes it to docs/EVAL.md.
"""

from __future__ import annotations

import time

import faiss
import numpy as np

from ingest.index import VectorIndex
from tests.bench.core import Context, Figure, Section, Target

DIM = 384


def _corpus(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(300, DIM)).astype(np.float32)
    x = centres[rng.integers(0, 300, n)] + 0.9 * rng.normal(size=(n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _queries(x: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = x[rng.integers(0, len(x), n)] + 0.05 * rng.normal(size=(n, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q


def _ms_per_query(index: VectorIndex, queries: np.ndarray, k: int = 10) -> float:
    started = time.perf_counter()
    for q in queries:
        index.search(q, k)
    return (time.perf_counter() - started) * 1000 / len(queries)


def run(ctx: Context) -> Section:
    n = 20_000 if ctx.quick else 100_000
    nq = 100 if ctx.quick else 300
    section = Section(key="retrieval", title="Retrieval: FAISS index kind by corpus size")
    x = _corpus(n)
    ids = np.arange(n, dtype=np.int64)
    queries = _queries(x, nq)
    work = ctx.area_dir("retrieval")

    exact = VectorIndex(work / "exact.faiss", DIM, exact_max=n)
    exact.add(ids, x)
    started = time.perf_counter()
    ivf = VectorIndex(work / "ivf.faiss", DIM, exact_max=n // 4)
    ivf.add(ids, x)
    build_s = time.perf_counter() - started
    assert (exact.kind, ivf.kind) == ("exact", "ivf")
    ctx.log(f"retrieval: {n:,} vectors, IVF built in {build_s:.1f} s")

    e_ms = section.add(Figure(f"exact search, {n:,} x {DIM}, 1 thread", "ms/query"))
    i_ms = section.add(
        Figure(
            f"IVF search, {n:,} x {DIM}, 1 thread",
            "ms/query",
            targets=[Target(0.5, on="ratio", op="<=", text="≤ half of exact")],
            anchor_label="exact, same run",
        )
    )
    for _ in range(3):
        e_ms.samples.append(_ms_per_query(exact, queries))
        i_ms.samples.append(_ms_per_query(ivf, queries))
    i_ms.anchor = e_ms.median

    overlap = []
    for q in queries:
        truth = {i for i, _ in exact.search(q, 10)}
        overlap.append(len(truth & {i for i, _ in ivf.search(q, 10)}) / 10)
    section.add(
        Figure(
            "IVF recall@10 against exact search",
            "share",
            [float(np.mean(overlap))],
            targets=[Target(0.95, text="≥ 0.95")],
            note=f"nprobe {ivf._index.nprobe} of {ivf._index.nlist} lists",
        )
    )
    section.add(Figure("IVF build (train + add)", "s", [build_s]))

    # one query, one thread vs all cores: the reason search() pins OpenMP to one thread
    two = section.add(Figure("exact search, 1 query on 2 OpenMP threads", "ms/query"))
    raw = faiss.IndexFlatIP(DIM)
    raw.add(x)
    for threads, fig in ((2, two),):
        faiss.omp_set_num_threads(threads)
        started = time.perf_counter()
        for q in queries:
            raw.search(q.reshape(1, -1), 10)
        fig.samples.append((time.perf_counter() - started) * 1000 / len(queries))
    two.anchor, two.anchor_label = e_ms.median, "1 thread (VectorIndex), same run"
    faiss.omp_set_num_threads(1)
    section.notes.append(
        "Exact up to `exact_max` (default 50,000) vectors, IVF-Flat above with about 4·√n lists "
        "and an eighth of them probed. Synthetic clustered unit vectors; queries are stored rows "
        "plus noise. The switch happens inside `VectorIndex.add/remove` and on `open`, with "
        "hysteresis (back to exact below half the threshold)."
    )
    return section
