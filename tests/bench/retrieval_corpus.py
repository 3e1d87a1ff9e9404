"""A synthetic retrieval corpus for the latency bench: clustered vectors plus Zipf text.

Real numbers at 1e5 and 1e6 chunks need a corpus of that size in seconds, not
the hours real ingestion of a million passages would take. Each chunk gets

- a unit vector drawn around one of 300 centres (sentence embeddings cluster
  by topic, and cluster structure is what IVF relies on), and
- 60-100 words drawn from a Zipf vocabulary (English stopwords at the top
  ranks, then made-up words), so FTS5 posting lists are as skewed as real
  text's: a few terms in most chunks, most terms in a handful.

The made-up words are fixed points of the analyser (lower-case ASCII that the
Snowball stemmer leaves alone), so a chunk's text *is* its analysed FTS5 row.
That lets ``bulk_load`` fill ``chunks_fts`` straight from the text in one
statement instead of running the Python stemmer over 8e7 words, and
``lexical.ensure_lexical_index`` still finds the rows in step with the
analyser. Everything else is written exactly as ``writes.insert_document``
writes it, in one transaction.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

from assistant.domain import vector_id_for
from assistant.store.documents import Store
from assistant.text.analysis import STOPWORDS, index_text

DIM = 384
VOCABULARY = 50_000
#: Chunks per synthetic document (a ~12-page file at ~600 characters per chunk).
CHUNKS_PER_DOC = 20
_BLOCK = 50_000  # chunks generated and inserted per step, to bound memory


def vectors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors around 300 centres (noise about as large as the centre)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal(size=(300, DIM), dtype=np.float32)
    x = centres[rng.integers(0, 300, n)]
    x += 0.9 * rng.standard_normal(size=(n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def vocabulary(size: int = VOCABULARY, seed: int = 7) -> list[str]:
    """Stopwords first (the commonest ranks), then pronounceable made-up words.

    Every word is its own stem and a single analyser token, so text made of
    them is already in the form ``index_text`` writes.
    """
    stem = Stemmer.Stemmer("english").stemWord
    words = [w for w in sorted(STOPWORDS) if w.isascii() and w.isalpha() and stem(w) == w]
    seen = set(words)
    rng = np.random.default_rng(seed)
    onsets = [*"bcdfghjklmnprstvwz", "br", "ch", "cl", "dr", "gr", "pl", "st", "tr"]
    vowels = list("aeiou")
    while len(words) < size:
        syllables = int(rng.integers(1, 4))
        word = (
            "".join(
                onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                for _ in range(syllables)
            )
            + "xkmnt"[rng.integers(5)]
        )
        if word not in seen and stem(word) == word:
            seen.add(word)
            words.append(word)
    return words


@dataclass(slots=True)
class Texts:
    """Chunk texts as word ids (one flat array plus offsets) and the vocabulary to spell them."""

    vocab: list[str]
    words: np.ndarray  # int32 word ids, all chunks back to back
    offsets: np.ndarray  # chunk i is words[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def ids(self, i: int) -> np.ndarray:
        return self.words[self.offsets[i] : self.offsets[i + 1]]

    def text(self, i: int) -> str:
        return " ".join(self.vocab[w] for w in self.ids(i))

    def block(self, start: int, stop: int) -> list[str]:
        """Texts of chunks ``start..stop``, spelled in one pass over an object array."""
        spelled = np.asarray(self.vocab, dtype=object)[
            self.words[self.offsets[start] : self.offsets[stop]]
        ].tolist()
        base = int(self.offsets[start])
        bounds = (self.offsets[start : stop + 1] - base).tolist()
        return [" ".join(spelled[a:b]) for a, b in itertools.pairwise(bounds)]


def texts(n: int, seed: int = 2, exponent: float = 1.0) -> Texts:
    """``n`` chunks of 60-100 words, ranks drawn from Zipf(``exponent``) over the vocabulary."""
    vocab = vocabulary()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(60, 101, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    words = np.searchsorted(cdf, rng.random(int(offsets[-1]))).astype(np.int32)
    np.minimum(words, len(vocab) - 1, out=words)
    return Texts(vocab, words, offsets)


def chunk_id(i: int) -> str:
    return hashlib.sha256(f"bench-chunk:{i}".encode()).hexdigest()


def vector_ids(n: int) -> np.ndarray:
    """The FAISS ids the chunks get, as ``Chunk.vector_id`` computes them."""
    return np.fromiter((vector_id_for(chunk_id(i)) for i in range(n)), dtype=np.int64, count=n)


def bulk_load(path: Path, x: np.ndarray, corpus: Texts, collections: int = 4) -> Store:
    """The store ``writes.insert_document`` would build for this corpus, written in one go.

    Same tables and rows (documents, doc_paths, chunks with vector BLOBs,
    ``chunks_fts`` with rowid = vid) and the generation bumped once per
    document, but in one transaction with ``executemany`` and a single FTS5
    ``INSERT ... SELECT``, and without re-analysing text that is already analysed.
    """
    n = len(corpus)
    assert index_text(None, corpus.text(0)) == corpus.text(0), "vocabulary is not analysed"
    Store(path).close()  # the schema, exactly as the product creates it
    docs = (n + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC
    doc_ids = [hashlib.sha256(f"bench-doc:{d}".encode()).hexdigest() for d in range(docs)]
    paths = [f"c{d % collections}/doc{d}.txt" for d in range(docs)]
    # a bench file: no rollback journal, no fsync (a 2 GB WAL would be written twice)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO documents (id, path, title, collection, mime_type, size, ingested_at) "
        "VALUES (?, ?, ?, ?, 'text/plain', 12000, '2025-01-01T00:00:00+00:00')",
        [(did, paths[d], f"doc {d}", f"c{d % collections}") for d, did in enumerate(doc_ids)],
    )
    db.executemany(
        "INSERT INTO doc_paths (path, doc_id, collection, mtime_ns, size) "
        "VALUES (?, ?, ?, 0, 12000)",
        [(paths[d], did, f"c{d % collections}") for d, did in enumerate(doc_ids)],
    )
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        spelled = corpus.block(start, stop)
        cids = [chunk_id(i) for i in range(start, stop)]
        db.executemany(
            "INSERT INTO chunks (id, vid, doc_id, ordinal, text, page, section, vector) "
            "VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
            [
                (
                    cid,
                    vector_id_for(cid),
                    doc_ids[i // CHUNKS_PER_DOC],
                    i % CHUNKS_PER_DOC,
                    spelled[i - start],
                    x[i].tobytes(),
                )
                for i, cid in zip(range(start, stop), cids, strict=True)
            ],
        )
    db.execute(  # ascending rowids: FTS5 flushes its pending segment whenever a rowid goes down
        "INSERT INTO chunks_fts (rowid, text, chunk_id) "
        "SELECT vid, text, id FROM chunks ORDER BY vid"
    )
    db.execute("UPDATE meta SET value = value + ? WHERE key = 'generation'", (docs,))
    db.execute("COMMIT")
    db.close()
    return Store(path)
