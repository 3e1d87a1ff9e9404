"""Parse the next files while the current one is embedded and committed.

The ingest loop (ingest/pipeline.py) stays strictly sequential: each file is
checked, parsed, embedded and committed in its turn, with its journal marks, so
the commit order and crash safety are exactly those of a one-file-at-a-time
run. Only the parse runs ahead, in the parser pool's child processes
(ingest/parsing/pool.py, or any ``ConcurrentParser``), and only for files that the
loop's own cheap checks say will need one: stat, not unchanged since indexed, not
refused before and unchanged since, within the size cap and not empty, then the
content hash, which must be neither indexed already nor being parsed for an earlier
file (a copy waits for its turn and becomes a duplicate then).

When a file's turn comes, the loop runs every check again and takes the parse
only if the file's hash, size and mtime are still those the parse started from;
otherwise it parses again. A guess proved wrong by an earlier commit costs a
parse, never a wrong index. Look-ahead is bounded to ``depth`` files, so the
parsed results held at once are bounded too.

What runs ahead is whatever ``start(path, digest, collection)`` starts: a parse in
the local pool, or (distributed ingest, ingest/ray_prepare.py) the whole prepare of
the file on a Ray cluster; the rules above are the same for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from assistant.store.documents import Store
from ingest.files import file_sha256
from ingest.quarantine import Quarantine

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Started:
    index: int  # position in the batch
    digest: str
    mtime_ns: int
    size: int
    future: Future[Any]


class ParseAhead(Generic[T]):
    """Keeps up to ``depth`` parses (or prepares) of the coming files running."""

    def __init__(
        self,
        start: Callable[[Path, str, str], Future[T]],
        store: Store,
        quarantine: Quarantine,
        *,
        max_file_bytes: int,
        retry_quarantined: bool,
        depth: int,
    ) -> None:
        self.start = start  # (path, digest, collection) -> the work's future
        self.store = store
        self.quarantine = quarantine
        self.max_file_bytes = max_file_bytes
        self.retry_quarantined = retry_quarantined
        self.depth = depth
        self._started: dict[str, _Started] = {}
        self._next = 0  # the first item not looked at yet

    def fill(self, items: Sequence[tuple[Path, str]], current: int) -> None:
        """Start parses for items ``current`` .. ``current + depth`` that will need one."""
        for key in [k for k, s in self._started.items() if s.index < current]:
            self._started.pop(key).future.cancel()  # guessed, then not taken in its turn
        self._next = max(self._next, current)
        while self._next < len(items) and self._next <= current + self.depth:
            path, collection = items[self._next]
            guess = self._needs_parse(path)
            if guess is not None:
                digest, st = guess
                future = self.start(path, digest, collection)
                self._started[str(path)] = _Started(
                    self._next, digest, st.st_mtime_ns, st.st_size, future
                )
            self._next += 1

    def take(self, path: Path, digest: str, st: os.stat_result) -> Future[T] | None:
        """The parse started for exactly these bytes, or None (then parse now)."""
        started = self._started.pop(str(path), None)
        if started is None:
            return None
        if (started.digest, started.mtime_ns, started.size) == (digest, st.st_mtime_ns, st.st_size):
            return started.future
        started.future.cancel()
        return None

    def close(self) -> None:
        """Drop every parse not taken (those queued never start)."""
        for started in self._started.values():
            started.future.cancel()
        self._started.clear()

    def _needs_parse(self, path: Path) -> tuple[str, os.stat_result] | None:
        """The same checks as the loop's, read-only: (hash, stat) if a parse is due."""
        key = str(path)
        if key in self._started:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        entry = self.store.path_entry(key)
        if entry and (entry.mtime_ns, entry.size) == (st.st_mtime_ns, st.st_size):
            return None
        if (
            entry is None
            and not self.retry_quarantined
            and self.quarantine.is_current(key, st.st_size, st.st_mtime_ns)
        ):
            return None
        if not 0 < st.st_size <= self.max_file_bytes:
            return None
        try:
            digest = file_sha256(path)
        except OSError:
            return None
        if entry and entry.doc_id == digest:
            return None
        if any(s.digest == digest for s in self._started.values()):
            return None
        if self.store.has_document(digest):
            return None
        return digest, st
