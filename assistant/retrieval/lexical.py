"""Lexical retrieval: BM25 over the store's SQLite FTS5 table, with one text analyser.

The FTS5 rows are written in the same transaction as their chunks
(``assistant.store.documents``), so the lexical side is always in step with ingest and
erasure. What goes into a row is ``index_text`` -- normalised, Arabic-unified,
English-stemmed words -- and a query goes through the same analyser, so both
meet on one spelling. User text never reaches FTS5's query syntax: the query
is rebuilt from analysed words, each quoted, joined with OR, so quotes,
operators, brackets or a stray ``NEAR`` can never raise a syntax error.

Large stores (``MEMORY_MIN_ROWS``) are ranked from an in-memory copy of the same
rows (``assistant.retrieval.postings``), with the same formula, whenever that copy
is of the store's current generation: FTS5 scores every matching row at a few
microseconds each, the copy sums numpy slices.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from assistant.retrieval.postings import PostingsCache
from assistant.store.documents import Store
from assistant.text.analysis import ANALYSER_VERSION, index_text, or_expression, query_terms
from assistant.text.arabic import INDIC_DIGITS_GLOB

log = logging.getLogger(__name__)

#: Most rows one lexical query may score. FTS5's ``bm25()`` costs a few microseconds
#: for every row that matches *any* term of the OR query, so a question holding a few
#: common words scores ~5e3 rows at 1e5 chunks and ~5e4 at 1e6 (0.2 s). Terms are kept
#: rarest first while their document frequencies fit this budget; the commonest -- the
#: ones BM25 weights least -- are dropped (the rarest one is always kept). A corpus
#: below about this many chunks never loses a term. tests/bench/bench_retrieval.py
#: measures the cost and the agreement with unbudgeted BM25. At 12,000 the eval sets
#: rank exactly as without a budget (PostgreSQL docs, 12,532 chunks); a budget of 4,000
#: cost them 0.077 of BM25 recall@5 and 0.023 of hybrid recall@5, so speed at 1e6 was
#: not bought with answers at the sizes customers run.
MAX_POSTINGS = 12_000
#: From this many chunks on, queries are answered from an in-memory copy of the postings
#: (``assistant.retrieval.postings``: same ranking, every term, ~1 ms at 1e5) whenever it
#: is of the store's current generation; FTS5 answers while a copy is being built. Below
#: it FTS5 is fast enough and a copy would only cost memory and rebuilds.
MEMORY_MIN_ROWS = 50_000

_caches: dict[Path, PostingsCache] = {}
_caches_lock = threading.Lock()


def postings_cache(store: Store) -> PostingsCache:
    """The one in-memory postings cache of ``store``'s file in this process."""
    with _caches_lock:
        cache = _caches.get(store.path)
        if cache is None:
            cache = _caches[store.path] = PostingsCache(store.path)
        return cache


def _large(store: Store, min_rows: int) -> bool:
    """Whether the FTS5 table holds ``min_rows`` rows, read from its own totals record."""
    with store.connection() as db:  # FTS5 keeps the row count up front in record 1 of %_data
        row = db.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
    return row is not None and _varint(bytes(row[0])) >= min_rows


def _varint(data: bytes) -> int:
    """The leading SQLite varint of ``data`` (big-endian 7-bit groups; a 9th byte is whole)."""
    value = 0
    for i, byte in enumerate(data[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    return value


def search(
    store: Store,
    question: str,
    k: int,
    *,
    max_postings: int | None = MAX_POSTINGS,
    memory_min_rows: int | None = MEMORY_MIN_ROWS,
) -> list[tuple[int, float]]:
    """BM25 top ``k`` as (vector id, score), best first; empty when the question has no words.

    ``max_postings``: see ``MAX_POSTINGS``; None scores every matching row.
    ``memory_min_rows``: see ``MEMORY_MIN_ROWS``; None always asks FTS5.
    """
    terms = query_terms(question)
    if not terms or k <= 0:
        return []
    if memory_min_rows is not None and _large(store, memory_min_rows):
        postings = postings_cache(store).current(store.generation())
        found = postings.search(terms, k) if postings is not None else None
        if found is not None:
            return found
    if max_postings is not None:
        terms = within_budget(store, terms, max_postings)
    expression = or_expression(terms)
    try:
        return store.search_text(expression, k)
    except sqlite3.OperationalError as exc:  # pragma: no cover - the expression is always valid
        log.warning("lexical search failed (%d terms): %s", len(terms), exc)
        return []


def document_frequencies(store: Store, terms: list[str]) -> dict[str, int]:
    """How many chunks hold each term, from FTS5's own vocabulary (one index seek per term).

    A term the vocabulary does not list under that spelling (the FTS5 tokenizer
    folds some characters further than the analyser) counts 0.
    """
    sql = "SELECT doc FROM temp.chunks_vocab WHERE term = ?"
    with store.connection() as db:
        try:
            db.execute(sql, ("",))
        except sqlite3.OperationalError:  # first use on this connection
            db.execute(
                "CREATE VIRTUAL TABLE temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')"
            )
        return {t: int(row[0]) if (row := db.execute(sql, (t,)).fetchone()) else 0 for t in terms}


def within_budget(store: Store, terms: list[str], max_postings: int) -> list[str]:
    """``terms`` without the commonest ones whose postings would pass ``max_postings``.

    Query order is kept. Terms counted 0 cost nothing and always stay (absent, or
    spelled differently in the vocabulary: FTS5 still matches them).
    """
    df = document_frequencies(store, terms)
    kept: set[str] = set()
    total = 0
    for term in sorted(terms, key=lambda t: df[t]):
        if kept and total + df[term] > max_postings:
            break
        kept.add(term)
        total += df[term]
    return [t for t in terms if t in kept]


_checked: set[str] = set()
_checked_lock = threading.Lock()


def ensure_lexical_index(store: Store) -> bool:
    """Rewrite the FTS5 rows from the chunks when they were written by another analyser.

    A store made before the analyser existed (or changed) holds raw text that
    analysed queries cannot match. Sampling the first and last rows is enough
    to tell raw text: every row is written by the same ``insert_document``. A
    change of the analyser that touches only some rows is told by the version the
    store records (``ANALYSER_VERSION``); a store from before that record is
    rewritten only if a chunk holds what version 2 changed (Arabic-Indic digits).
    Checked once per store per process. Returns True when the rows were rewritten.
    """
    key = str(store.path)
    with _checked_lock:
        if key in _checked:
            return False
        with store.transaction() as db:
            counts = (
                db.execute(  # rows an erasure queued for assistant/store/fts_purge.py do not count
                    "SELECT (SELECT count(*) FROM chunks), "
                    "(SELECT count(*) FROM chunks_fts) - (SELECT count(*) FROM fts_purge)"
                ).fetchone()
            )
            recorded = db.execute("SELECT value FROM meta_text WHERE key = 'analyser'").fetchone()
            stale = counts[0] != counts[1] or _other_analyser(db, recorded)
            if not stale:
                for order in ("ASC", "DESC"):
                    row = db.execute(
                        "SELECT f.text, c.section, c.text FROM chunks_fts f "
                        f"JOIN chunks c ON c.id = f.chunk_id ORDER BY f.rowid {order} LIMIT 1"
                    ).fetchone()
                    if row is not None and row[0] != index_text(row[1], row[2]):
                        stale = True
            if stale:
                rows = db.execute("SELECT vid, id, section, text FROM chunks").fetchall()
                db.execute("DELETE FROM chunks_fts")
                db.executemany(  # rowid = vid: erasure deletes a document's rows by it
                    "INSERT INTO chunks_fts (rowid, text, chunk_id) VALUES (?, ?, ?)",
                    [(vid, index_text(section, text), cid) for vid, cid, section, text in rows],
                )
                log.info("rewrote %d lexical index rows with the current analyser", len(rows))
            if recorded is None or recorded[0] != ANALYSER_VERSION:
                db.execute(
                    "INSERT OR REPLACE INTO meta_text (key, value) VALUES ('analyser', ?)",
                    (ANALYSER_VERSION,),
                )
        _checked.add(key)
        return stale


def _other_analyser(db: sqlite3.Connection, recorded: tuple[str] | None) -> bool:
    """Whether the rows may have been written by an analyser other than this one."""
    if recorded is not None:
        return recorded[0] != ANALYSER_VERSION
    # version 1 wrote no record, and differs from 2 only where digits are Arabic-Indic:
    # one scan of the chunks, once (the version is recorded after it)
    found = db.execute(
        "SELECT 1 FROM chunks WHERE text GLOB ?1 OR section GLOB ?1 LIMIT 1",
        (INDIC_DIGITS_GLOB,),
    ).fetchone()
    return found is not None
