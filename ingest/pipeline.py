# Over 300 lines: the one place each file's outcome is decided; prepare and commit are apart.
"""Ingest files: identify by content hash, skip what is unchanged, prepare, commit.

Every file ends in exactly one outcome -- added, changed, duplicate, skipped,
removed or quarantined (with a reason) -- so nothing is ever silently dropped,
and after a run over a folder the index holds exactly that folder:

- identity is the SHA-256 of the bytes; an unchanged file costs a ``stat``;
- *prepare* (ingest/prepare.py: parse, chunk, embed) touches no store; *commit*
  (ingest/commit.py) is the single writer, and replaces a changed file in one
  store transaction, so a reader sees one version, never both or neither;
- a changed file that now fails is quarantined *and* its old version erased;
- parsing runs in child processes (ingest/parsing/), ahead of the loop for the
  next files (ingest/parsing/ahead.py), which still checks, prepares and commits
  one file at a time, in order; the journal records
  seen -> parsed -> embedded -> committed (assistant/store/journal.py);
- distributed (``remote``, a Ray cluster: ingest/ray_prepare.py): the whole prepare of
  the next files runs ahead on the cluster instead, from their bytes; the loop, its
  checks, its journal and its in-order commits are the same. A file the cluster fails
  to prepare for want of a worker is prepared here, never lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.domain import Document
from assistant.errors import IngestError
from assistant.models.embed import Embedder
from assistant.store.documents import PathEntry, Store
from assistant.store.index import VectorIndex
from ingest.commit import Committer, ErasureListener
from ingest.erase import Erasure, resolve_targets, who
from ingest.files import IngestReport, discover, file_sha256, is_ignored
from ingest.multilingual import fill_multilingual
from ingest.parsing.ahead import ParseAhead
from ingest.parsing.parse import ParseOptions
from ingest.parsing.parser import ConcurrentParser, Parser, parser_from_settings
from ingest.parsing.pool import shared_pool
from ingest.prepare import Prepared, Preparer, RemoteFailed, RemotePreparer
from ingest.quarantine import Quarantine, Quarantined

if TYPE_CHECKING:
    from assistant.settings import Settings

Progress = Callable[[Path, str, int], None]
log = logging.getLogger(__name__)

__all__ = ["IngestReport", "Ingestor", "Parser", "Quarantined", "discover", "is_ignored"]


class Ingestor:
    def __init__(
        self,
        store: Store,
        index: VectorIndex,
        embedder: Embedder,
        *,
        chunk_size: int,
        chunk_overlap: int = 0,
        quarantine_dir: Path,
        max_file_bytes: int,
        parser: Parser | None = None,
        multilingual_index: VectorIndex | None = None,
        multilingual_embedder: Embedder | None = None,
        remote: RemotePreparer | None = None,
    ) -> None:
        if (multilingual_index is None) != (multilingual_embedder is None):
            raise ValueError("the multilingual index and its embedder come together")
        self.store = store
        self.index = index
        self.embedder = embedder
        self.quarantine = Quarantine(quarantine_dir)
        # Not closed here: a shared parser lives as long as the process; a given one is the giver's.
        self.parser: Parser = parser or shared_pool(
            ParseOptions(), timeout_s=600.0, memory_mb=4096, workers=os.cpu_count() or 1
        )
        self.preparer = Preparer(
            self.parser,
            embedder,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            max_file_bytes=max_file_bytes,
            multilingual=multilingual_embedder,
        )
        self.committer = Committer(
            store,
            index,
            multilingual_index,
            embedder=embedder.name,
            multilingual_embedder=getattr(multilingual_embedder, "name", None),
        )
        self.journal = self.committer.journal
        #: prepares files on a cluster (closed with this ingestor); None: here
        self.remote = remote
        self.on_ingest: list[Callable[[Document, str | None, int], None]] = []
        self._ahead: ParseAhead[Any] | None = None
        self._lock = threading.RLock()

    @property
    def on_erasure(self) -> list[ErasureListener]:
        return self.committer.on_erasure

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        index: VectorIndex,
        embedder: Embedder,
        *,
        parser: Parser | None = None,
        multilingual_index: VectorIndex | None = None,
        multilingual_embedder: Embedder | None = None,
    ) -> Ingestor:
        """The ingestor ``settings`` describe; ``parser`` replaces the isolated parser pool
        (the eval's and the bench's light readers); the multilingual index and its
        embedder, when given, are filled beside ``index``. With ``ray_address`` set,
        files are prepared on that Ray cluster (ingest/ray_prepare.py)."""
        remote = None
        if settings.ray_address:
            from ingest.ray_prepare import RayPreparer

            remote = RayPreparer.from_settings(
                settings, embedder.name, getattr(multilingual_embedder, "name", None)
            )
        return cls(
            store,
            index,
            embedder,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            quarantine_dir=settings.quarantine_dir,
            max_file_bytes=settings.max_file_mb * 1024 * 1024,
            parser=parser or parser_from_settings(settings),
            multilingual_index=multilingual_index,
            multilingual_embedder=multilingual_embedder,
            remote=remote,
        )

    def close(self) -> None:
        with self._lock:
            self.committer.close()
            if self.remote is not None:
                self.remote.close()

    def fill_multilingual(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Give every chunk stored without one its multilingual vector (ingest/multilingual.py);
        returns how many were filled."""
        if self.preparer.multilingual is None:
            raise ValueError("the multilingual embedder is off (multilingual_embedding_model)")
        with self._lock:
            return fill_multilingual(
                self.store, self.committer, self.preparer.multilingual, progress
            )

    def tick(self) -> None:
        """Housekeeping while idle, and the second half of an erasure: drop retired
        versions, save a pending index, purge the FTS5 rows of erased chunks and
        checkpoint the WAL (assistant/store/fts_purge.py)."""
        with self._lock:
            self.committer.tick()

    # -- ingest ------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path],
        collection: str,
        progress: Progress | None = None,
        *,
        retry_quarantined: bool = False,
    ) -> IngestReport:
        """Ingest files and folders; a folder's vanished files are removed from the index."""
        files = discover(paths)
        folders = [str(p.resolve()) for p in paths if p.is_dir()]
        return self.ingest_files(
            [(f, collection) for f in files],
            progress,
            prune_under=folders,
            retry_quarantined=retry_quarantined,
        )

    def ingest_files(
        self,
        items: Sequence[tuple[Path, str]],
        progress: Progress | None = None,
        *,
        prune_under: Sequence[str] = (),
        retry_quarantined: bool = False,
        actor: str | None = None,
    ) -> IngestReport:
        """Ingest ``(file, collection)`` pairs, then forget stored paths under ``prune_under``
        that are gone from disk (added first, so a renamed file is a cheap duplicate)."""
        started = time.perf_counter()
        report = IngestReport()
        with self._lock:
            self.committer.acquire()
            self._ahead = self._parse_ahead(retry_quarantined)
            try:
                for i, (path, collection) in enumerate(items):
                    if self._ahead is not None:
                        self._ahead.fill(items, i)
                    outcome, n = self._ingest_one(path, collection, report, retry_quarantined)
                    if progress is not None:
                        progress(path, outcome, n)
                    self.committer.save_if_due()
            finally:
                if self._ahead is not None:
                    self._ahead.close()
                self._ahead = None
            if prune_under:
                present = {str(p) for p, _ in items}
                self._prune(prune_under, present, report, actor or who("ingest"))
            self.committer.finish_batch()
        report.seconds = time.perf_counter() - started
        return report

    def _parse_ahead(self, retry_quarantined: bool) -> ParseAhead[Any] | None:
        """A cluster prepares the next files ahead; a parser that can start parses in the
        background parses them ahead; any other parses in each file's turn."""
        remote, parser = self.remote, self.parser
        if remote is not None:
            start: Callable[[Path, str, str], Future[Any]] = remote.submit
            workers = remote.workers
        elif isinstance(parser, ConcurrentParser):
            start, workers = (
                (lambda path, _digest, _collection: parser.submit(path)),
                parser.workers,
            )
        else:
            return None
        return ParseAhead(
            start,
            self.store,
            self.quarantine,
            max_file_bytes=self.preparer.max_file_bytes,
            retry_quarantined=retry_quarantined,
            depth=2 * workers,
        )

    def _prune(
        self, folders: Sequence[str], present: set[str], report: IngestReport, actor: str
    ) -> None:
        vanished = [
            p for p in self.store.paths_under(folders) if p not in present and not Path(p).exists()
        ]
        if vanished:
            report.removed.extend(
                self._erase_paths(vanished, actor, "removed from the folder").paths
            )

        def under(path: str) -> bool:
            return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)

        for q in self.quarantine.entries():
            if under(q.path) and not Path(q.path).exists():
                self.quarantine.clear(q.path)
        stale = [e.path for e in self.journal.entries() if under(e.path)]
        self.committer.forget_journal([p for p in stale if not Path(p).exists()])

    def _ingest_one(
        self, path: Path, collection: str, report: IngestReport, retry_quarantined: bool
    ) -> tuple[str, int]:
        key = str(path)
        try:
            st = path.stat()
        except FileNotFoundError:  # gone since it was listed
            gone = self._erase_paths([key], who("ingest"), "removed from the folder").paths
            self.quarantine.clear(key)
            report.removed.extend(gone)
            return ("removed" if gone else "skipped"), 0
        except OSError as exc:
            return self._refuse(key, collection, exc, "", None, report)
        entry = self.store.path_entry(key)
        if entry and (entry.mtime_ns, entry.size) == (st.st_mtime_ns, st.st_size):
            report.skipped.append(key)
            return "skipped", 0
        if (
            entry is None
            and not retry_quarantined
            and self.quarantine.is_current(key, st.st_size, st.st_mtime_ns)
        ):
            report.skipped.append(key)  # refused before and unchanged since
            return "skipped", 0
        digest = ""
        try:
            self.preparer.check(st)
            digest = file_sha256(path)
            new_entry = PathEntry(key, digest, collection, st.st_mtime_ns, st.st_size)
            if entry and entry.doc_id == digest:  # touched, same bytes
                self.committer.touch(new_entry)
                self.quarantine.clear(key)
                report.skipped.append(key)
                return "skipped", 0
            if self.store.has_document(digest):  # same bytes known under another path
                self.committer.commit(new_entry, replaced=entry is not None, prepared=None)
                self.quarantine.clear(key)
                report.duplicates.append(key)
                return "duplicate", 0
            self.committer.mark(key, "seen", digest, collection)
            prepared = self._prepare(path, digest, collection, st)
            self.committer.commit(new_entry, replaced=entry is not None, prepared=prepared)
        except (IngestError, OSError) as exc:
            return self._refuse(key, collection, exc, digest, entry, report, st)
        self.quarantine.clear(key)
        chunks = len(prepared.chunks)
        for listener in self.on_ingest:  # e.g. the audit log's ingest record
            listener(prepared.doc, entry.doc_id if entry else None, chunks)
        (report.changed if entry else report.added).append(key)
        report.chunks += chunks
        return ("changed" if entry else "added"), chunks

    def _prepare(self, path: Path, digest: str, collection: str, st: os.stat_result) -> Prepared:
        key = str(path)
        started = self._ahead.take(path, digest, st) if self._ahead is not None else None

        def mark(step: str) -> None:
            self.committer.mark(key, step, digest, collection)

        if self.remote is not None:
            try:
                future = started or self.remote.submit(path, digest, collection)
                return self.preparer.receive(path, st, future, mark=mark)
            except RemoteFailed as exc:  # no worker could: prepare it here
                log.warning("preparing %s here: the cluster failed it: %s", key, exc)
                started = None
        return self.preparer.prepare(path, digest, collection, st, started=started, mark=mark)

    def _refuse(
        self,
        key: str,
        collection: str,
        exc: IngestError | OSError,
        digest: str,
        entry: PathEntry | None,
        report: IngestReport,
        st: object | None = None,
    ) -> tuple[str, int]:
        """Quarantine ``key``; erase an older version it held: the index equals the folder."""
        if entry is not None:
            self._erase_paths([key], who("ingest"), "replaced by a version that was refused")
        if isinstance(exc, IngestError):
            code, message, hint = exc.code, exc.message, exc.hint
        else:
            code, message, hint = "os_error", str(exc), None
        q = self.quarantine.put(
            key,
            code=code,
            error=type(exc).__name__,
            message=message,
            hint=hint,
            sha256=digest,
            collection=collection,
            size=int(getattr(st, "st_size", 0)),
            mtime_ns=int(getattr(st, "st_mtime_ns", 0)),
        )
        self.journal.mark(key, "quarantined", digest, collection, code)
        report.quarantined.append(q)
        return "quarantined", 0

    # -- erasure -----------------------------------------------------------------
    def forget(self, paths: Sequence[str]) -> list[str]:
        """Remove paths (files or folders) from the index. Returns the paths forgotten."""
        return self.erase(paths).paths

    def erase(
        self, targets: Sequence[str], *, actor: str | None = None, reason: str = "forgotten"
    ) -> Erasure:
        """Erase paths (files or folders) and document ids (or unique id prefixes ≥ 8)."""
        with self._lock:
            paths = resolve_targets(self.store, targets)
            return self._erase_paths(paths, actor or who("cli"), reason)

    def _erase_paths(self, paths: Sequence[str], actor: str, reason: str) -> Erasure:
        """Erase through the writer (ingest/commit.py); refusals of those bytes go too."""
        with self._lock:
            done = self.committer.erase_paths(paths, actor, reason)
            for r in done.receipts:
                self.quarantine.clear_sha256(r.sha256)
            return done
