"""Every process that answers sees what any process committed, within a second or so.

The server holds its FAISS indexes in memory. Another process -- ``assistant ingest``,
``assistant forget``, a watcher, a node of a cluster -- commits to the same SQLite store
and FAISS files, and without this the server answered from the index it loaded at start:
a document ingested by the CLI was listed but never found, an erased one kept being
searched, until a restart.

So before a search, at most once every ``every_s`` seconds, the store's generation (one
read of one row; every commit and erasure moves it) is compared with the one the indexes
were brought to. When it moved, each index reads the vids its space now holds and
fetches the vectors of the new ones only (``VectorIndex.follow``): no rebuild, no reading
of vectors it has. A multilingual fill (``assistant reembed``) adds vectors without a new
generation, so a count that differs from the index's is a change too. The lexical side
needs nothing: FTS5 is the store itself, and its postings cache is keyed by generation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from assistant.store.documents import Store
from assistant.store.index import VectorIndex

log = logging.getLogger(__name__)

#: How often, at most, the store is asked whether it moved.
EVERY_S = 1.0


class Follower:
    def __init__(
        self,
        store: Store,
        indexes: Sequence[VectorIndex],
        *,
        every_s: float = EVERY_S,
        writing: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.indexes = list(indexes)
        self.every_s = every_s
        #: True while this process is the writer: then no other process commits, and its
        #: own writer keeps the indexes in step (ingest/commit.py)
        self.writing = writing
        self._generation = store.generation()  # what the indexes were opened at
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _moved(self, generation: int) -> bool:
        if generation != self._generation:
            return True
        return any(
            index.space != "primary" and index.ntotal != self.store.vector_count(index.space)
            for index in self.indexes
        )

    def check(self, *, now: float | None = None) -> bool:
        """Bring the indexes to the store if it moved; True when they changed. Cheap when
        called often: at most one look per ``every_s``, and one caller at a time looks."""
        now = time.monotonic() if now is None else now
        if now - self._checked < self.every_s or not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked = now
            generation = self.store.generation()
            if not self._moved(generation):
                return False
            changes = [index.follow(self.store, unless=self.writing) for index in self.indexes]
            if None in changes:
                return False  # this process writes: its writer keeps the indexes in step
            self._generation = generation
            log.info("indexes follow the store to generation %d: %s", generation, changes)
            return any(change != (0, 0) for change in changes)
        finally:
            self._lock.release()
