"""Fill the multilingual vectors a store lacks: chunks stored before schema 3 (or while
``multilingual_embedding_model`` was off) have MiniLM's vector only.

Why not at open: embedding a large corpus again takes hours on a 2-core machine (USE:
35-50 ms an 800-character chunk), and the server must start at once. So an older
index keeps working as it did -- MiniLM and BM25, English gate -- and says what is
missing (``assistant status``, ``/readyz``); the retriever takes the multilingual
index up once no chunk lacks its vector (at the next start). New documents get both
vectors from the moment the setting is on. This fills the rest (``assistant reembed``
runs it): in batches, each committed to the store and then added to the index by the
single writer, so it can be stopped and run again (it resumes where it stopped).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.models.embed import Embedder
from assistant.store import multilingual
from assistant.store.documents import Store
from assistant.store.writer_lock import WriterLock
from ingest.commit import Committer
from ingest.files import embedding_text

#: Chunks embedded and committed at a time.
BATCH = 256


def fill_multilingual(
    store: Store,
    committer: Committer,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
) -> int:
    """Embed and store the multilingual vector of every chunk that has none; return how many.

    ``Ingestor.fill_multilingual`` calls this under its lock. ``progress(done, total)``
    is told after each batch; the index is saved every 30 s and at the end.
    """
    committer.acquire()
    store.bind_multilingual_embedder(embedder.name)
    total = store.multilingual_missing()
    done = 0
    while chunks := store.chunks_missing_multilingual(batch):
        vectors = embedder.embed([embedding_text(c) for c in chunks])
        committer.add_multilingual([c.vector_id for c in chunks], vectors)
        done += len(chunks)
        if progress is not None:
            progress(done, max(total, done))
        committer.save_if_due()
    committer.finish_batch()
    return done


def forget_multilingual(store: Store, index_dir: Path) -> int:
    """Drop every multilingual vector, the embedder that made them and their index file,
    under the index's writer lock; return how many there were. The next fill embeds every
    chunk again with whatever embedder is configured then (``assistant reembed
    --multilingual``): another model, another width. Until it has, the retriever leaves the
    multilingual index aside (``store.multilingual.complete``), as for an older store."""
    lock = WriterLock(index_dir / "writer.lock")
    lock.acquire()
    try:
        dropped = store.vector_count("multilingual")
        store.clear_multilingual()
        multilingual.drop_stale(index_dir)
        return dropped
    finally:
        lock.release()
