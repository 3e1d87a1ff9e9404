"""BM25 over an in-memory copy of the FTS5 postings, for large stores.

Why: FTS5's ``bm25()`` costs 1-2 microseconds for every row that matches any
term of the OR query (it seeks each row's length in ``chunks_fts_docsize``
and walks its position list). A 12-word question matches 5,000-12,000 rows at
1e5 chunks, so the lexical side alone took 10-20 ms per query and set the
hybrid p95 (tests/bench/bench_retrieval.py). Here each term's postings are a
slice of two numpy arrays -- the rows holding it and their BM25 term weights
-- so a query is a few array gathers and one ``bincount``: ~1 ms at 1e5.

Exactly FTS5's ranking: the same analysed words the FTS5 rows hold, split as
its ``unicode61`` tokenizer splits them, and the same formula (k1 = 1.2,
b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6). A test
compares both on one store.

Always in step, never a second source of truth: a copy is built from one
read snapshot of the FTS5 table together with the store's ``generation``
(bumped by every insert and erasure, in the same transaction), and it answers
only while the store is still at that generation. Otherwise the caller falls
back to FTS5 while a fresh copy is built in the background (at most one build
at a time, and a pause after each: ``REBUILD_PAUSE_S``). Rows an erasure queued
for purging (``fts_purge``) are left out of the copy. The copy lives in memory
only: nothing derived from the documents is written anywhere else, so erasure
has no further file to clean.

Words are numbered by a 64-bit hash of their bytes, computed with numpy over a
whole block of rows at once (no Python per word): 1e6 chunks build in tens of
seconds instead of minutes.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
#: Rows read per step while building: bounds the transient memory of the split.
BLOCK_ROWS = 20_000


@dataclass(frozen=True)
class Postings:
    """One snapshot of the lexical index: term -> (rows, weights) slices."""

    generation: int
    terms: np.ndarray  # uint64 hashes of the words (``word_hash``), sorted: index = term id
    starts: np.ndarray  # int64, term id -> first posting; one extra entry at the end
    rows: np.ndarray  # int32 row numbers, grouped by term
    weights: np.ndarray  # float32 BM25 term weight before idf, per posting
    vids: np.ndarray  # int64 vector id of each row number
    build_s: float

    @property
    def nbytes(self) -> int:
        arrays = (self.terms, self.starts, self.rows, self.weights, self.vids)
        return sum(int(a.nbytes) for a in arrays)

    def term_id(self, term: str) -> int | None:
        h = word_hash(term)
        i = int(np.searchsorted(self.terms, h))
        return i if i < len(self.terms) and self.terms[i] == h else None

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]] | None:
        """BM25 top ``k`` as (vector id, score), best first, as FTS5 ranks an OR of ``terms``.

        None when a term is a phrase to FTS5 (it holds a character unicode61 splits
        at): the caller asks FTS5 then.
        """
        folded = [fts5_fold(t).split() for t in terms]
        if any(len(words) != 1 for words in folded):
            return None
        n = len(self.vids)
        gathered_rows: list[np.ndarray] = []
        gathered_scores: list[np.ndarray] = []
        for (term,) in folded:
            tid = self.term_id(term)
            if tid is None:
                continue
            lo, hi = int(self.starts[tid]), int(self.starts[tid + 1])
            idf = max(math.log((n - (hi - lo) + 0.5) / ((hi - lo) + 0.5)), 1e-6)
            gathered_rows.append(self.rows[lo:hi])
            gathered_scores.append(self.weights[lo:hi] * np.float32(idf))
        if not gathered_rows or k <= 0:
            return []
        rows = np.concatenate(gathered_rows)
        scores = np.concatenate(gathered_scores)
        if len(gathered_rows) > 1 and len(rows) * 8 >= n:  # dense: sum into one array
            scores = np.bincount(rows, weights=scores, minlength=n)
            rows = np.flatnonzero(scores)
            scores = scores[rows]
        elif len(gathered_rows) > 1:  # sparse: sum per distinct row
            rows, inverse = np.unique(rows, return_inverse=True)
            scores = np.bincount(inverse, weights=scores)
        top = np.argpartition(-scores, k - 1)[:k] if len(rows) > k else np.arange(len(rows))
        # best first; equal scores by vector id, so the order is the same every time
        order = top[np.lexsort((self.vids[rows[top]], -scores[top]))]
        return [(int(self.vids[rows[i]]), float(scores[i])) for i in order]


#: Random 64-bit multipliers, one per byte position in a word (mod 256): a word's hash is
#: the wrapping sum of byte x multiplier. Two different words collide with probability
#: about 2**-56, so a vocabulary of millions of words has no collision in practice.
_MULTIPLIERS = np.random.default_rng(0x5EED).integers(0, 2**63, 256, dtype=np.uint64) * 2 + 1


def fts5_fold(text: str) -> str:
    """``text`` as FTS5's unicode61 tokenizer sees it (remove_diacritics=1), words by spaces.

    ASCII passes through. Elsewhere a Latin letter loses its diacritics ("café" is
    "cafe" to FTS5) and a character outside L*, N* and Co separates words.
    """
    if text.isascii():
        return text
    out: list[str] = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category[0] not in "LN" and category != "Co":
            out.append(" ")
        elif ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff":  # Latin: drop the diacritics
            out.append("".join(c for c in unicodedata.normalize("NFD", ch) if c.isascii()) or ch)
        else:
            out.append(ch)
    return "".join(out)


def word_hash(word: str) -> np.uint64:
    """The hash ``build`` gives ``word`` (its UTF-8 bytes)."""
    data = np.frombuffer(word.encode("utf-8"), dtype=np.uint8).astype(np.uint64)
    weights = _MULTIPLIERS[np.arange(len(data)) & 255]
    return np.uint64(np.sum(data * weights, dtype=np.uint64))


def _block_postings(
    texts: list[str], first_row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(word hash, row, term frequency) of each distinct word of each text, and text lengths.

    Vectorised over the block's bytes, no Python per word. Words are what FTS5's
    unicode61 tokenizer sees in an analysed row: runs of bytes other than ASCII
    controls, space and ``_`` (the analyser leaves no other separator in a row).
    """
    joined = "\n".join(fts5_fold(t).replace("\n", " ") for t in texts)
    data = np.frombuffer(joined.encode("utf-8"), np.uint8)
    in_word = (data > 32) & (data != 95)
    begins = in_word.copy()
    begins[1:] &= ~in_word[:-1]
    starts = np.flatnonzero(begins)
    rows = np.searchsorted(np.flatnonzero(data == 10), starts).astype(np.int64)
    lengths = np.bincount(rows, minlength=len(texts))
    if not len(starts):
        empty = np.zeros(0, dtype=np.int64)
        return empty.astype(np.uint64), empty, empty, lengths
    index = np.arange(len(data))
    offset = index - np.maximum.accumulate(np.where(begins, index, 0))
    contributions = np.where(in_word, data.astype(np.uint64) * _MULTIPLIERS[offset & 255], 0)
    hashes = np.add.reduceat(contributions, starts)
    order = np.lexsort((rows, hashes))
    hashes, rows = hashes[order], rows[order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (rows[1:] != rows[:-1])
    at = np.flatnonzero(first)
    tf = np.diff(np.append(at, len(hashes)))
    return hashes[at], rows[at] + first_row, tf, lengths


def build(path: Path) -> Postings:
    """Read the FTS5 rows of the store at ``path`` in one snapshot and index them in memory."""
    started = time.perf_counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        db.execute("BEGIN")  # one read snapshot: the rows and the generation agree
        generation = int(
            db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        )
        cursor = db.execute(
            "SELECT rowid, text FROM chunks_fts WHERE rowid NOT IN (SELECT vid FROM fts_purge)"
        )
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        vid_parts: list[np.ndarray] = []
        first_row = 0
        while block := cursor.fetchmany(BLOCK_ROWS):
            parts.append(_block_postings([text or "" for _, text in block], first_row))
            vid_parts.append(np.fromiter((v for v, _ in block), dtype=np.int64, count=len(block)))
            first_row += len(block)
        db.execute("COMMIT")
    finally:
        db.close()
    return _assemble(generation, parts, vid_parts, started)


def _assemble(
    generation: int,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    vid_parts: list[np.ndarray],
    started: float,
) -> Postings:
    def joined(i: int, dtype: type) -> np.ndarray:
        return np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=dtype)

    terms, term_ids = np.unique(joined(0, np.uint64), return_inverse=True)
    order = np.argsort(term_ids, kind="stable")  # by term; rows stay ascending within one
    rows = joined(1, np.int64)[order].astype(np.int32)
    tf = joined(2, np.int64)[order].astype(np.float32)
    starts = np.searchsorted(term_ids[order], np.arange(len(terms) + 1)).astype(np.int64)
    del order, term_ids
    lengths = joined(3, np.int64)
    avgdl = float(lengths.mean()) if len(lengths) else 1.0
    norm = (K1 * (1.0 - B + B * lengths / avgdl)).astype(np.float32)
    weights = tf * np.float32(K1 + 1.0) / (tf + norm[rows])
    return Postings(
        generation=generation,
        terms=terms,
        starts=starts,
        rows=rows,
        weights=weights.astype(np.float32),
        vids=np.concatenate(vid_parts) if vid_parts else np.zeros(0, dtype=np.int64),
        build_s=time.perf_counter() - started,
    )


#: After a build, a stale copy is rebuilt no sooner than this, nor than twice the last
#: build took: while a store keeps changing (a long ingest) FTS5 answers, and rebuilds
#: take at most a third of one core.
REBUILD_PAUSE_S = 30.0


class PostingsCache:
    """The current in-memory postings of one store, rebuilt in the background when stale."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._current: Postings | None = None
        self._building: threading.Thread | None = None
        self._finished_at = -math.inf
        self._lock = threading.Lock()

    def current(self, generation: int) -> Postings | None:
        """The postings if they are of ``generation``; else None (and a rebuild is due)."""
        postings = self._current
        if postings is not None and postings.generation == generation:
            return postings
        last = postings.build_s if postings is not None else 0.0
        if time.monotonic() - self._finished_at >= max(REBUILD_PAUSE_S, 2 * last):
            self.refresh()
        return None

    def refresh(self, *, wait: bool = False) -> Postings | None:
        """Start a build unless one is running; with ``wait``, return once it is done."""
        with self._lock:
            thread = self._building
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._build, name="lexical-postings", daemon=True)
                self._building = thread
                thread.start()
        if wait:
            thread.join()
        return self._current

    def _build(self) -> None:
        try:
            postings = build(self.path)
        except (sqlite3.Error, OSError, MemoryError) as exc:
            log.warning("in-memory lexical index not built, FTS5 serves: %s", exc)
            return
        finally:
            self._finished_at = time.monotonic()
        self._current = postings
        log.info(
            "in-memory lexical index: %d rows, %d terms, %.0f MiB, built in %.1f s",
            len(postings.vids),
            len(postings.terms),
            postings.nbytes / 2**20,
            postings.build_s,
        )
