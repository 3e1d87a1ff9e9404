"""One way to open a SQLite database and to write to it, for every store.

Every database is in WAL mode (readers never block the writer) with
``synchronous=FULL`` (a commit survives a power cut) and autocommit
(``isolation_level=None``): transactions are explicit, through :func:`transaction`,
which takes the caller's thread lock, then SQLite's write lock (``BEGIN IMMEDIATE``:
other processes wait up to ``timeout`` seconds), and commits or rolls back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

#: a ``threading.Lock`` or ``RLock``: this process's threads take turns to write
Lock = AbstractContextManager[Any]


def connect(
    path: Path | str,
    *,
    timeout: float = 5.0,
    secure_delete: bool = False,
    pragmas: Sequence[str] = (),
) -> sqlite3.Connection:
    """Open ``path`` for use from several threads (callers hold their own lock).

    ``secure_delete``: erased rows are overwritten, not left in free pages (stores that
    hold personal data or erasable documents). ``pragmas``: further ``name=value``s, run
    before WAL mode is set (``page_size`` only takes effect in a new file)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=timeout)
    for pragma in pragmas:
        db.execute(f"PRAGMA {pragma}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if secure_delete:
        db.execute("PRAGMA secure_delete=ON")
    return db


@contextmanager
def transaction(db: sqlite3.Connection, lock: Lock) -> Iterator[sqlite3.Connection]:
    """Write under ``lock`` (this process's threads), then SQLite's (other processes)."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
