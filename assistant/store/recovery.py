"""Keep the FAISS file in step with the store across crashes.

The store bumps a ``generation`` on every change to its chunks. Each FAISS save
writes that generation beside the index (``vectors.faiss.generation``), after
the index itself, both by atomic rename. On start, a missing or different
generation means a process died between a store commit and a FAISS save; the
index is then rebuilt from the vectors in the store, which is the truth.
Comparing counts alone is not enough: replacing a file by a version with the
same number of chunks leaves the count unchanged and the ids stale.

The multilingual index (``vectors-multilingual.faiss``) is kept the same way, beside
its own generation file, against the vectors of its own space. Filling the vectors
an older store lacks (ingest/multilingual.py) only ever adds, so a crash between
that commit and the save shows as a count below the store's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from assistant.store.documents import Store
from assistant.store.index import VectorIndex

log = logging.getLogger(__name__)


def generation_file(index: VectorIndex) -> Path:
    return index.path.with_name(index.path.name + ".generation")


def saved_generation(index: VectorIndex) -> int | None:
    try:
        return int(generation_file(index).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _write_generation(index: VectorIndex, generation: int) -> None:
    _write_generation_file(generation_file(index), generation)


def carry_forward(index_file: Path, old: int, new: int) -> None:
    """Record generation ``new`` for the index file saved at ``old`` whose vectors a change
    left as they were (a re-embedding of the other space, ingest/reembed.py): its next open
    then neither rebuilds it nor warns of a crash. A file at another generation is left to
    ``ensure_consistent``."""
    path = index_file.with_name(index_file.name + ".generation")
    try:
        current = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return
    if current == old:
        _write_generation_file(path, new)


def _write_generation_file(path: Path, generation: int) -> None:
    tmp = path.with_name(path.name + ".tmp")  # not vectors.faiss.tmp: the index's own
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(str(generation))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save(index: VectorIndex, store: Store) -> None:
    """Save the index, then record the store generation it reflects.

    Callers hold the ingest lock, so no commit lands between the two reads.
    """
    generation = store.generation()
    index.save()
    _write_generation(index, generation)


def ensure_consistent(index: VectorIndex, store: Store) -> bool:
    """Rebuild the index from the store if it is not the one saved at the store's generation.

    Returns True when a rebuild was needed.
    """
    generation = store.generation()
    chunks = store.vector_count(index.space)
    if saved_generation(index) == generation and index.ntotal == chunks:
        return False
    if chunks == 0 and index.ntotal == 0:  # empty on both sides: nothing to repair
        _write_generation(index, generation)
        return False
    log.warning(
        "vector index %s out of step with the store (crash?): rebuilding from the store",
        index.path.name,
    )
    index.rebuild(store)
    _write_generation(index, generation)
    return True
