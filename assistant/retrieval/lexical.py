"""Lexical retrieval: BM25 over the store's SQLite FTS5 table, with one text analyser.

The FTS5 rows are written in the same transaction as their chunks
(``ingest.store``), so the lexical side is always in step with ingest and
erasure. What goes into a row is ``index_text`` -- normalised, Arabic-unified,
English-stemmed words -- and a query goes through the same analyser, so both
meet on one spelling. User text never reaches FTS5's query syntax: the query
is rebuilt from analysed words, each quoted, joined with OR, so quotes,
operators, brackets or a stray ``NEAR`` can never raise a syntax error.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from assistant.retrieval.analysis import index_text, match_expression
from ingest.store import Store

log = logging.getLogger(__name__)


def search(store: Store, question: str, k: int) -> list[tuple[int, float]]:
    """BM25 top ``k`` as (vector id, score), best first; empty when the question has no words."""
    expression = match_expression(question)
    if expression is None or k <= 0:
        return []
    try:
        return store.search_text(expression, k)
    except sqlite3.OperationalError as exc:  # pragma: no cover - the expression is always valid
        log.warning("lexical search failed (%d terms): %s", expression.count(" OR ") + 1, exc)
        return []


_checked: set[str] = set()
_checked_lock = threading.Lock()


def ensure_lexical_index(store: Store) -> bool:
    """Rewrite the FTS5 rows from the chunks when they were written by another analyser.

    A store made before the analyser existed (or changed) holds raw text that
    analysed queries cannot match. Sampling the first and last rows is enough:
    every row is written by the same ``insert_document``. Checked once per
    store per process. Returns True when the rows were rewritten.
    """
    key = str(store.path)
    with _checked_lock:
        if key in _checked:
            return False
        with store.transaction() as db:
            counts = db.execute(
                "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM chunks_fts)"
            ).fetchone()
            stale = counts[0] != counts[1]
            if not stale:
                for order in ("ASC", "DESC"):
                    row = db.execute(
                        "SELECT f.text, c.section, c.text FROM chunks_fts f "
                        f"JOIN chunks c ON c.id = f.chunk_id ORDER BY f.rowid {order} LIMIT 1"
                    ).fetchone()
                    if row is not None and row[0] != index_text(row[1], row[2]):
                        stale = True
            if stale:
                rows = db.execute("SELECT id, section, text FROM chunks").fetchall()
                db.execute("DELETE FROM chunks_fts")
                db.executemany(
                    "INSERT INTO chunks_fts (text, chunk_id) VALUES (?, ?)",
                    [(index_text(section, text), cid) for cid, section, text in rows],
                )
                log.info("rewrote %d lexical index rows with the current analyser", len(rows))
        _checked.add(key)
        return stale
