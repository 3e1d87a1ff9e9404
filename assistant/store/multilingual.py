"""The second, multilingual FAISS index: opening it, and whether it is whole.

It holds the multilingual embedder's vectors (``multilingual_vectors``, schema 3)
under the chunks' own vids, in ``vectors-multilingual.faiss`` beside
``vectors.faiss``, and is kept in step with the store like the first
(store/recovery.py). A store from before schema 3 has no multilingual vectors;
neither has a chunk ingested while the setting was off. Such chunks are counted
(``Store.multilingual_missing``) and reported by ``assistant status`` and
``/readyz``; the retriever leaves the index aside until none is missing, since a
half-filled index would score half the candidates as absent. ``assistant reembed``
fills them (``fill_multilingual``, ingest/multilingual.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.store import recovery
from assistant.store.documents import Store
from assistant.store.index import VectorIndex

FILE = "vectors-multilingual.faiss"


def open_index(store: Store, index_dir: Path, name: str, dim: int, exact_max: int) -> VectorIndex:
    """The multilingual index of embedder ``name`` (``dim`` wide), rebuilt from the store
    when stale; EmbedderMismatch if the store's multilingual vectors came from another."""
    store.bind_multilingual_embedder(name)
    index = VectorIndex.open(
        index_dir / FILE, dim, store, exact_max=exact_max, space="multilingual"
    )
    recovery.ensure_consistent(index, store)  # a crash between commit and save
    return index


def drop_stale(index_dir: Path) -> None:
    """Delete the multilingual index file while that index is off: vectors erased from the
    store must not stay in a file nobody updates. It is derived, and rebuilt from the store
    (where erased chunks' vectors went with them) when the index is on again."""
    path = index_dir / FILE
    for stale in (path, recovery.generation_file(VectorIndex(path, 1))):
        stale.unlink(missing_ok=True)


def complete(store: Store) -> bool:
    """Whether every chunk has its multilingual vector (the retriever may use the index)."""
    return store.multilingual_missing() == 0


def status(store: Store, name: str) -> dict[str, Any]:
    """``ready``, or ``incomplete`` with how many chunks miss their multilingual vector."""
    missing = store.multilingual_missing()
    out: dict[str, Any] = {
        "state": "ready" if missing == 0 else "incomplete",
        "model": name,
        "vectors": store.vector_count("multilingual"),
        "missing": missing,
    }
    if missing:
        out["reason"] = (
            f"multilingual vectors missing for {missing} chunks: Arabic and cross-lingual "
            "retrieval stay off until `assistant reembed` fills them"
        )
    return out
