"""Re-embed every chunk with another embedder, beside the live index, then swap.

Switching embedders (another model, a tuned one, another backend) means new vectors for
every chunk: queries and documents must come from one embedder (``Store.bind_embedder``).
The text embedded is exactly what ingest embeds (``ingest.files.embedding_text``), each
chunk keeps its vector id, and the swap is all or nothing:

1. take the index's writer lock (``assistant/store/writer_lock.py``): no ingest, watcher
   or erasure changes the chunks meanwhile; a running watcher makes this refuse;
2. embed every chunk, page by page in vid order, into a new FAISS index in memory;
   the live file, the store's vectors and its bound embedder are not touched, so an
   error or a kill here leaves the old index exactly as it was, and usable;
3. one store transaction writes every new vector, binds the new embedder's name and
   bumps the generation: the store's truth changes at once;
4. the new index is saved over the live file (temporary file, fsync, rename) with the
   new generation (``assistant/store/recovery.py``). A crash between 3 and 4 leaves the
   old file behind a stale generation, so the next open rebuilds it from the store's
   new vectors -- never old vectors under the new embedder's name.

A server started before keeps its index and embedder in memory: it goes on answering
from the old ones, consistently, until it is restarted with the new embedder configured
(started with the old one, it refuses the index: ``EmbedderMismatch``). A writer that
read the index before the swap is refused when it next writes (``ingest/commit.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import IndexBusy
from assistant.models.embed import Embedder
from assistant.store import multilingual, recovery
from assistant.store.documents import Store
from assistant.store.index import DEFAULT_EXACT_MAX, VectorIndex
from assistant.store.writer_lock import WriterLock
from assistant.store.writes import bump_generation, replace_vectors, set_embedder
from ingest.files import embedding_text

#: (chunks embedded, chunks in all)
Progress = Callable[[int, int], None]
PAGE = 256


@dataclass(frozen=True, slots=True)
class ReembedReport:
    old_embedder: str | None
    new_embedder: str
    chunks: int
    dim: int
    index_kind: str
    generation: int
    seconds: float


def reembed(
    store: Store,
    index_path: Path,
    embedder: Embedder,
    *,
    exact_max: int = DEFAULT_EXACT_MAX,
    progress: Progress | None = None,
    page: int = PAGE,
) -> ReembedReport:
    """Re-embed every chunk of ``store`` with ``embedder`` and swap the index at
    ``index_path`` (see the module docstring for what a failure leaves behind)."""
    started = time.perf_counter()
    lock = WriterLock(index_path.parent / "writer.lock")
    lock.acquire()
    try:
        old = store.embedder_name()
        generation = store.generation()
        total = store.counts()["chunks"]
        ids = np.zeros(total, dtype=np.int64)
        vectors = np.zeros((total, embedder.dim), dtype=np.float32)
        done, last = 0, -1  # vector ids are 63-bit, never negative
        if progress is not None:
            progress(0, total)
        while rows := store.chunks_after(last, page):
            if done + len(rows) > total:
                raise _changed(store)
            rows_vecs = np.asarray(embedder.embed([embedding_text(c) for _, c in rows]))
            if rows_vecs.shape != (len(rows), embedder.dim):
                raise ValueError(
                    f"{embedder.name} returned {rows_vecs.shape} for {len(rows)} texts"
                )
            ids[done : done + len(rows)] = [vid for vid, _ in rows]
            vectors[done : done + len(rows)] = rows_vecs
            done += len(rows)
            last = rows[-1][0]
            if progress is not None:
                progress(done, total)
        if done != total:
            raise _changed(store)
        fresh = VectorIndex(index_path, embedder.dim, exact_max=exact_max)
        fresh.load(ids, vectors)  # in memory: the live file is still the old one
        with store.transaction() as db:
            if store.generation() != generation:
                raise _changed(store)
            if replace_vectors(db, ids, vectors) != total:
                raise _changed(store)
            set_embedder(db, embedder.name)
            bump_generation(db)
        recovery.save(fresh, store)  # the swap on disk, with the new generation
        # the multilingual vectors are untouched: their index is in step at the new one
        recovery.carry_forward(
            index_path.with_name(multilingual.FILE), generation, store.generation()
        )
        return ReembedReport(
            old_embedder=old,
            new_embedder=embedder.name,
            chunks=total,
            dim=embedder.dim,
            index_kind=fresh.kind,
            generation=store.generation(),
            seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        lock.release()


def _changed(store: Store) -> IndexBusy:
    return IndexBusy(
        f"the chunks in {store.path.parent} changed while they were re-embedded",
        hint="another process wrote the store without the writer lock: run reembed again",
    )
