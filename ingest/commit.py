"""Commit: the single writer. Store first for the truth, FAISS around it, the disk after.

- a new or changed document goes into the store in one transaction, with its path,
  journal mark and (when it replaces one) the old version's unlinking; its vectors
  enter FAISS before that commit and the old ones leave after it, so a reader sees
  one version, never both or neither (a vector without a stored chunk resolves to
  nothing);
- an erasure is committed first and leaves the disk just after: the FAISS save, the
  FTS5 purge and the WAL checkpoint are ``tick``'s work (assistant/store/fts_purge.py);
- the FAISS file is saved atomically with the store generation it reflects
  (assistant/store/recovery.py), at the end of a batch, every 30 s, and by ``tick``.

With the multilingual embedder on, a second FAISS index holds its vectors under the
same vids (``vectors-multilingual.faiss``): every add, removal and save above goes to
both, and the store keeps both vectors of a chunk in the same transaction.

Only one process writes an index at a time (assistant/store/writer_lock.py). A process
that read the index before another one wrote it (an ingest, a re-embedding: ingest/
reembed.py) catches up when it takes the lock: it refuses a store now bound to another
embedder, and reloads its in-memory index when the store moved on since it was read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from assistant.store import fts_purge, multilingual, recovery
from assistant.store.documents import PathEntry, Store
from assistant.store.index import VectorIndex
from assistant.store.journal import ErasureReceipt, Journal
from assistant.store.writer_lock import WriterLock
from assistant.store.writes import (
    insert_document,
    insert_multilingual,
    purge_retired,
    upsert_path,
)
from ingest.erase import Erasure, Laps, unlink_paths, who
from ingest.prepare import Prepared

ErasureListener = Callable[[ErasureReceipt], None]
SAVE_EVERY_S = 30.0


class Committer:
    def __init__(
        self,
        store: Store,
        index: VectorIndex,
        multilingual: VectorIndex | None = None,
        *,
        embedder: str | None = None,
        multilingual_embedder: str | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder  # the name of what embeds the documents this writes
        self.multilingual = multilingual
        self.multilingual_embedder = multilingual_embedder  # and of the multilingual vectors
        #: every FAISS index of the store: MiniLM's, and the multilingual one when on
        self.indexes = [index] if multilingual is None else [index, multilingual]
        self.journal = Journal(store)
        self.on_erasure: list[ErasureListener] = []
        self._writer = WriterLock(index.path.parent / "writer.lock")
        self._dirty = False
        self._saved_at = time.monotonic()
        for each in self.indexes:
            recovery.ensure_consistent(each, store)
        self._generation = store.generation()  # what the in-memory indexes reflect
        fts_purge.purge(store)  # lexical rows an erasure queued before a crash

    def acquire(self) -> None:
        """Become the index's one writer (held until ``close``), in step with the store."""
        if self._writer.held:
            return
        self._writer.acquire()
        try:
            if self.embedder is not None:
                self.store.bind_embedder(self.embedder)  # re-embedded since: refuse
            if self.multilingual_embedder is not None:
                self.store.bind_multilingual_embedder(self.multilingual_embedder)
            moved = self.store.generation() != self._generation  # another writer since
            if moved:
                self.index.follow(self.store)  # only what changed (store/follow.py)
            second = self.multilingual
            # a fill elsewhere adds multilingual vectors without moving the generation
            if second is not None and (
                moved or second.ntotal != self.store.vector_count("multilingual")
            ):
                second.follow(self.store)
        except BaseException:
            self._writer.release()
            raise

    @property
    def writing(self) -> bool:
        """Whether this process is the index's writer now (no other process can commit)."""
        return self._writer.held

    def mark(self, path: str, step: str, digest: str, collection: str) -> None:
        self.journal.mark(path, step, digest, collection)

    def touch(self, entry: PathEntry) -> None:
        """Same bytes, new mtime: only the path's record changes."""
        with self.store.transaction() as db:
            upsert_path(db, entry)

    def commit(self, entry: PathEntry, *, replaced: bool, prepared: Prepared | None) -> None:
        """``entry`` now holds ``prepared`` (or, for a known duplicate, its existing document)."""
        chunks = prepared.chunks if prepared is not None else []
        new_ids = np.fromiter((c.vector_id for c in chunks), dtype=np.int64, count=len(chunks))
        second = None
        if prepared is not None and self.multilingual is not None:
            second = prepared.multilingual
            if second is None:
                raise ValueError("the multilingual index is on but no multilingual vectors came")
        if prepared is not None:
            self.index.add(new_ids, prepared.vectors)
        if self.multilingual is not None and second is not None:
            self.multilingual.add(new_ids, second)
        try:
            with self.store.transaction() as db:
                old = Erasure()
                if replaced:
                    old = unlink_paths(
                        db, [entry.path], actor=who("ingest"), reason="replaced", retire=True
                    )
                if prepared is not None:
                    insert_document(db, prepared.doc, prepared.chunks, prepared.vectors, second)
                upsert_path(db, entry)
                Journal.mark_in(db, entry.path, "committed", entry.doc_id, entry.collection)
        except BaseException:
            self._remove(new_ids.tolist())
            raise
        self._remove(old.vids)
        self._dirty = True
        self._notify(old.receipts)

    def add_multilingual(self, vids: Sequence[int], vectors: np.ndarray) -> None:
        """Multilingual vectors of chunks stored without them: the store, then FAISS."""
        if self.multilingual is None:
            raise ValueError("the multilingual index is off")
        self.acquire()
        with self.store.transaction() as db:
            insert_multilingual(db, vids, vectors)
        self.multilingual.add(np.asarray(vids, dtype=np.int64), vectors)
        self._dirty = True

    def erase_paths(self, paths: Sequence[str], actor: str, reason: str) -> Erasure:
        """Commit the erasure and take its vectors out of the live index; the disk follows.

        When this returns, no reader finds the documents (chunks gone, FAISS ids removed,
        FTS5 rows skipped) and a crash cannot bring them back (the store is the truth:
        the saved index is rebuilt from it when its generation is stale, queued FTS5
        rows are purged at start). Taking them off the disk -- index save, FTS5 purge
        and merge, WAL checkpoint -- is ``tick``'s work, run at the end of an ingest
        batch, when the watcher is next idle, and by ``close`` (``assistant forget``).
        """
        self.acquire()
        lap = Laps()
        with self.store.transaction() as db:
            done = unlink_paths(db, paths, actor=actor, reason=reason)
        lap("store_s")  # chunks, paths and receipt, FTS5 rows queued, committed together
        self._remove(done.vids)
        lap("faiss_remove_s")
        if done.paths:
            self._dirty = True
        self._notify(done.receipts)
        lap("listeners_s")
        done.timings = lap.seconds
        return done

    def forget_journal(self, paths: Sequence[str]) -> None:
        """Drop journal entries of files gone from disk that never reached the store."""
        if paths:
            with self.store.transaction() as db:
                for p in paths:
                    Journal.drop_in(db, p)

    def save_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at > SAVE_EVERY_S:
            self._save()

    def finish_batch(self) -> None:
        """End of a batch: save the index, drop retired versions, purge erased FTS rows."""
        if self._dirty:
            self._save()
        purge_retired(self.store)
        fts_purge.purge(self.store)  # lexical rows of what this batch erased or replaced

    def tick(self) -> None:
        """Housekeeping while idle, and the second half of an erasure."""
        if self._writer.held:
            purge_retired(self.store)
            if self._dirty:
                self._save()
        fts_purge.purge(self.store)

    def close(self) -> None:
        if self._writer.held:
            if self._dirty:
                self._save()
            purge_retired(self.store, 0.0)
            self._generation = self.store.generation()
        fts_purge.purge(self.store)  # e.g. `assistant forget`: before the process exits
        self._writer.release()

    def _notify(self, receipts: Sequence[ErasureReceipt]) -> None:
        for receipt in receipts:
            for listener in self.on_erasure:
                listener(receipt)

    def _remove(self, vids: list[int]) -> None:
        for each in self.indexes:
            each.remove(vids)
        if vids and self.multilingual is None:  # a file left from when it was on
            multilingual.drop_stale(self.index.path.parent)

    def _save(self) -> None:
        for each in self.indexes:
            recovery.save(each, self.store)
        self._dirty = False
        self._saved_at = time.monotonic()
