"""The chunk store's tables, and opening them: pragmas, schema, migrations.

An index built by an older version opens unchanged: tables are created only if
missing, and a schema-1 store (FTS rows with automatic rowids) has its FTS index
rebuilt once, in one transaction, keyed by the chunk's vector id. Schema 3 adds
``multilingual_vectors``, the second embedder's vector of each chunk (keyed by its
vid, deleted with it); a store from before has none, and says so
(``Store.multilingual_missing``) until they are filled (ingest/multilingual.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from assistant.store import sqlite
from assistant.store.sqlite import Lock
from assistant.text.analysis import ANALYSER_VERSION, index_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    collection TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS doc_paths (
    path TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    collection TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS doc_paths_doc ON doc_paths(doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    vid INTEGER NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    section TEXT,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, chunk_id UNINDEXED);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retired_chunks (
    vid INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    retired_at REAL NOT NULL,
    chunk TEXT NOT NULL,
    document TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS meta_text (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fts_purge (vid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS multilingual_vectors (
    vid INTEGER PRIMARY KEY REFERENCES chunks(vid) ON DELETE CASCADE,
    vector BLOB NOT NULL
);
"""

#: Schema 2: FTS rowid = chunk vid (schema 1 used automatic rowids). Schema 3: the
#: multilingual_vectors table (made by ``SCHEMA`` itself, empty in an older store).
SCHEMA_VERSION = 3

#: FTS5 buffers pending changes in memory and writes them out as a new segment when
#: the buffer passes ``hashsize`` (default 1 MiB), and at every statement boundary.
#: One statement writing (or purging) a 10 MB document's rows queues ~15 MB: with the
#: default it leaves as a dozen small segments mid-statement, each paying merge work.
#: The buffer grows only as far as one statement needs.
FTS_HASHSIZE = 64 * 2**20
#: Page size of a new store. A chunk row (text + 1.5 KB vector) fills most of a 4 KB page,
#: so erasing 18k chunks freed -- and, with ``secure_delete``, zeroed and wrote -- 18k
#: pages; at 16 KB, rows share pages and deleting them costs half the CPU and I/O.
#: An existing store keeps its size (changing it needs a VACUUM).
PAGE_SIZE = 16384
#: Page cache of the connection, KiB (SQLite's default is 2 MiB): a 10 MB document's
#: rows and index entries are changed in one transaction without spilling to the WAL.
CACHE_KIB = 64 * 1024


def open_database(path: Path, lock: Lock) -> sqlite3.Connection:
    """The store's one connection, its schema current (``lock`` guards the connection)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite.connect(
        path,
        secure_delete=True,
        pragmas=(f"page_size={PAGE_SIZE}", "foreign_keys=ON", f"cache_size=-{CACHE_KIB}"),
    )
    # FTS rows are written by one INSERT ... SELECT per document (store/writes.py)
    db.create_function("index_text", 2, index_text, deterministic=True)
    db.executescript(SCHEMA)
    _migrate(db, lock)
    return db


def _migrate(connection: sqlite3.Connection, lock: Lock) -> None:
    with sqlite.transaction(connection, lock) as db:
        row = db.execute("SELECT v FROM chunks_fts_config WHERE k = 'hashsize'").fetchone()
        if row is None or row[0] != FTS_HASHSIZE:
            db.execute(
                "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('hashsize', ?)",
                (FTS_HASHSIZE,),
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = int(row[0]) if row is not None else 1
        if version >= SCHEMA_VERSION:
            return
        if version < 2:
            _rebuild_fts(db)
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )


def _rebuild_fts(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: the FTS rows again, each under its chunk's vid."""
    db.execute("DELETE FROM chunks_fts")
    db.execute("DELETE FROM fts_purge")
    db.execute(
        "INSERT INTO chunks_fts (rowid, text, chunk_id) "
        "SELECT vid, index_text(section, text), id FROM chunks"
    )
    # the rows were just written by this analyser (retrieval/lexical.py checks the record)
    db.execute(
        "INSERT OR REPLACE INTO meta_text (key, value) VALUES ('analyser', ?)",
        (ANALYSER_VERSION,),
    )
