"""Erased chunks' FTS5 rows: unreachable at the erasure's commit, out of the file just after.

Deleting a row from an FTS5 table makes FTS5 read and tokenise its text again
to write delete markers: about 0.7 s of CPU for a 10 MB document here, two
thirds of its whole erasure. So the erasure transaction (``erasure.delete_document``)
deletes the chunk rows and queues their vector ids in ``fts_purge``, and the
FTS5 rows go in a second step, ``purge``, run right after by the ingestor.

Between the two, nothing reaches those rows: every lexical read joins its hits
to ``chunks`` (``Store.search_text``), whose rows are gone, and a re-ingest of
the same document removes its queued rows first (``writes.insert_document``).
The queue commits with the erasure, so a crash in between leaves it for the
next ``purge`` (the ingestor runs one when it starts, after each batch, when
idle and when it closes): nothing comes back.

``purge`` also does what deleting rows alone never did: FTS5 keeps a deleted
row's terms and positions in older index segments until a merge rewrites them
(SQLite 3.42 added ``secure-delete`` for this; Debian 12 ships 3.40). So after
the deletions it merges the whole index into one segment, a bounded number of
pages per transaction so readers get in between, and checkpoints the WAL: with
``secure_delete`` the freed pages are zeroed, and the analysed text is gone
from the file, not only from the results.
"""

from __future__ import annotations

from assistant.store.documents import Store

#: FTS5 rows deleted per transaction: readers wait at most for one batch.
BATCH = 4096
#: Index pages merged per transaction (FTS5 leaves are ~4 KB).
MERGE_PAGES = 1000
#: A bound on merge steps, should writers keep adding segments meanwhile.
MAX_MERGE_STEPS = 10_000
_MERGE_DUE = "fts_merge_due"


def pending(store: Store) -> bool:
    """Whether queued rows or an unfinished merge are waiting."""
    with store.connection() as db:
        queued = db.execute("SELECT 1 FROM fts_purge LIMIT 1").fetchone() is not None
        due = db.execute("SELECT 1 FROM meta WHERE key = ?", (_MERGE_DUE,)).fetchone()
    return queued or due is not None


def purge(store: Store, *, batch: int = BATCH, merge_pages: int = MERGE_PAGES) -> int:
    """Delete the queued FTS5 rows, merge their terms out of the index, checkpoint.

    Returns the number of rows deleted (0 and no write when nothing was pending).
    """
    if not pending(store):
        return 0
    deleted = 0
    while True:
        with store.transaction() as db:
            vids = [
                r[0] for r in db.execute("SELECT vid FROM fts_purge ORDER BY vid LIMIT ?", (batch,))
            ]
            if not vids:
                break
            low, high = vids[0], vids[-1]
            db.execute(
                "DELETE FROM chunks_fts WHERE rowid IN "
                "(SELECT vid FROM fts_purge WHERE vid BETWEEN ? AND ?)",
                (low, high),
            )
            db.execute("DELETE FROM fts_purge WHERE vid BETWEEN ? AND ?", (low, high))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, 1)", (_MERGE_DUE,))
            deleted += len(vids)
    _merge(store, merge_pages)
    store.checkpoint()
    return deleted


def _merge(store: Store, pages: int) -> None:
    """Merge every segment into one, ``pages`` at a time (FTS5's incremental 'optimize').

    The first 'merge' has a negative size: it puts all segments on one level and
    starts merging them; the next ones, positive, carry that merge on. Less than
    two changes from a step means nothing was left to merge.
    """
    size = -pages
    for _ in range(MAX_MERGE_STEPS):
        with store.transaction() as db:
            before = db.total_changes
            db.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('merge', ?)", (size,))
            finished = db.total_changes - before < 2
            if finished:
                db.execute("DELETE FROM meta WHERE key = ?", (_MERGE_DUE,))
        if finished:
            return
        size = pages
