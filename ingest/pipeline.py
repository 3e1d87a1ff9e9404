"""Ingest files: identify by content hash, skip what is unchanged, parse, chunk, embed, index.

Every file ends in exactly one outcome -- added, changed, duplicate, skipped,
removed or quarantined (with a reason) -- so nothing is ever silently dropped,
and after a run over a folder the index holds exactly that folder:

- identity is the SHA-256 of the bytes; an unchanged file costs a ``stat``;
- a changed file is replaced in one store transaction; new vectors enter FAISS
  before it and old ones leave after it, so a reader sees one version, never both
  or neither (a vector without a stored chunk resolves to nothing);
- a changed file that now fails is quarantined *and* its old version erased;
- parsing runs in child processes (ingest/isolate.py, ingest/pool.py), ahead of
  the loop for the next files (ingest/ahead.py), which still checks, embeds and
  commits one file at a time, in order; the journal records
  seen -> parsed -> embedded -> committed (assistant/store/journal.py);
- the FAISS file is saved atomically with the store generation it reflects
  (assistant/store/recovery.py), after every batch, every 30 s, and by ``tick`` after an
  erasure, which is committed first and leaves the disk just after (``_erase_paths``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.domain import Chunk, Document, chunk_id_for, utcnow
from assistant.errors import (
    EmptyDocument,
    FileChangedWhileReading,
    FileTooLarge,
    IngestError,
    NotFound,
)
from assistant.models.embed import Embedder
from assistant.store import fts_purge, recovery
from assistant.store.documents import PathEntry, Store
from assistant.store.index import VectorIndex
from assistant.store.journal import ErasureReceipt, Journal
from assistant.store.writer_lock import WriterLock
from ingest.ahead import ParseAhead
from ingest.chunk import chunk_elements
from ingest.erase import Erasure, Laps, unlink_paths, who
from ingest.files import IngestReport, discover, embedding_text, file_sha256, is_ignored
from ingest.parse import ParsedDocument, ParseOptions
from ingest.pool import ParserPool, shared_pool
from ingest.quarantine import Quarantine, Quarantined

if TYPE_CHECKING:
    from assistant.settings import Settings

Progress = Callable[[Path, str, int], None]
ErasureListener = Callable[[ErasureReceipt], None]
SAVE_EVERY_S = 30.0

__all__ = ["IngestReport", "Ingestor", "Quarantined", "discover", "is_ignored"]


class Parser(Protocol):
    def parse(self, path: Path) -> ParsedDocument: ...
    def close(self) -> None: ...


class Ingestor:
    def __init__(
        self,
        store: Store,
        index: VectorIndex,
        embedder: Embedder,
        *,
        chunk_size: int,
        quarantine_dir: Path,
        max_file_bytes: int,
        parser: Parser | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.max_file_bytes = max_file_bytes
        self.quarantine = Quarantine(quarantine_dir)
        self.journal = Journal(store)
        # Not closed here: a shared parser lives as long as the process; a given one is the giver's.
        self.parser: Parser = parser or shared_pool(
            ParseOptions(), timeout_s=600.0, memory_mb=4096, workers=os.cpu_count() or 1
        )
        self._ahead: ParseAhead | None = None
        self.on_erasure: list[ErasureListener] = []
        self.on_ingest: list[Callable[[Document, str | None, int], None]] = []
        self._lock = threading.RLock()
        self._writer = WriterLock(index.path.parent / "writer.lock")
        self._dirty = False
        self._saved_at = time.monotonic()
        recovery.ensure_consistent(index, store)
        fts_purge.purge(store)  # lexical rows an erasure queued before a crash

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        index: VectorIndex,
        embedder: Embedder,
        *,
        parser: Parser | None = None,
    ) -> Ingestor:
        """The ingestor ``settings`` describe; ``parser`` replaces the isolated parser pool
        (the eval's and the bench's light readers)."""
        if parser is None:
            options = ParseOptions(
                max_unzipped_bytes=settings.max_unzipped_mb * 1024 * 1024,
                tesseract_cmd=settings.tesseract_cmd,
                ocr_languages=tuple(settings.ocr_languages.split("+")),
                pdf_window_pages=settings.pdf_window_pages,
            )
            parser = shared_pool(
                options,
                timeout_s=settings.parse_timeout_s,
                memory_mb=settings.parse_memory_mb,
                workers=settings.parse_workers,
            )
        return cls(
            store,
            index,
            embedder,
            chunk_size=settings.chunk_size,
            quarantine_dir=settings.quarantine_dir,
            max_file_bytes=settings.max_file_mb * 1024 * 1024,
            parser=parser,
        )

    def close(self) -> None:
        with self._lock:
            if self._writer.held:
                if self._dirty:
                    self._save()
                self.store.purge_retired(0.0)
            fts_purge.purge(self.store)  # e.g. `assistant forget`: before the process exits
            self._writer.release()

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
            self._writer.acquire()
            self._ahead = self._parse_ahead(retry_quarantined)
            try:
                for i, (path, collection) in enumerate(items):
                    if self._ahead is not None:
                        self._ahead.fill(items, i)
                    outcome, n = self._ingest_one(path, collection, report, retry_quarantined)
                    if progress is not None:
                        progress(path, outcome, n)
                    if self._dirty and time.monotonic() - self._saved_at > SAVE_EVERY_S:
                        self._save()
            finally:
                if self._ahead is not None:
                    self._ahead.close()
                self._ahead = None
            if prune_under:
                present = {str(p) for p, _ in items}
                self._prune(prune_under, present, report, actor or who("ingest"))
            if self._dirty:
                self._save()
            self.store.purge_retired()
            fts_purge.purge(self.store)  # lexical rows of what this batch erased or replaced
        report.seconds = time.perf_counter() - started
        return report

    def _parse_ahead(self, retry_quarantined: bool) -> ParseAhead | None:
        """Parsing ahead needs a pool; a parser given without one parses in each file's turn."""
        if not isinstance(self.parser, ParserPool):
            return None
        return ParseAhead(
            self.parser,
            self.store,
            self.quarantine,
            max_file_bytes=self.max_file_bytes,
            retry_quarantined=retry_quarantined,
            depth=2 * self.parser.workers,
        )

    def _parse(self, path: Path, digest: str, st: os.stat_result) -> ParsedDocument:
        """The parse started ahead for exactly these bytes, else one now."""
        started = self._ahead.take(path, digest, st) if self._ahead is not None else None
        return started.result() if started is not None else self.parser.parse(path)

    def tick(self) -> None:
        """Housekeeping while idle, and the second half of an erasure: drop retired
        versions, save a pending index, purge the FTS5 rows of erased chunks and
        checkpoint the WAL (assistant/store/fts_purge.py)."""
        with self._lock:
            if self._writer.held:
                self.store.purge_retired()
                if self._dirty:
                    self._save()
            fts_purge.purge(self.store)

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
        stale = [p for p in stale if not Path(p).exists()]
        if stale:
            with self.store.transaction() as db:
                for p in stale:
                    Journal.drop_in(db, p)

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
            if st.st_size > self.max_file_bytes:
                raise FileTooLarge(
                    f"{st.st_size:,} bytes is over the {self.max_file_bytes:,}-byte limit",
                    hint="raise ASSISTANT_MAX_FILE_MB or split the file",
                )
            if st.st_size == 0:
                raise EmptyDocument("the file is empty (0 bytes)")
            digest = file_sha256(path)
            new_entry = PathEntry(key, digest, collection, st.st_mtime_ns, st.st_size)
            if entry and entry.doc_id == digest:  # touched, same bytes
                with self.store.transaction() as db:
                    Store.upsert_path(db, new_entry)
                self.quarantine.clear(key)
                report.skipped.append(key)
                return "skipped", 0
            if self.store.has_document(digest):  # same bytes known under another path
                self._commit(new_entry, replaced=entry is not None)
                self.quarantine.clear(key)
                report.duplicates.append(key)
                return "duplicate", 0
            self.journal.mark(key, "seen", digest, collection)
            parsed = self._parse(path, digest, st)
            after = path.stat()
            if (after.st_mtime_ns, after.st_size) != (st.st_mtime_ns, st.st_size):
                raise FileChangedWhileReading(
                    "the file changed while it was read (a copy in progress?); "
                    "it is read again at its next change",
                    hint="run `assistant ingest --retry` if it does not change again",
                )
            self.journal.mark(key, "parsed", digest, collection)
            doc, chunks = self._document(path, digest, collection, st.st_size, parsed)
            vectors = self.embedder.embed([embedding_text(c) for c in chunks])
            self.journal.mark(key, "embedded", digest, collection)
            self._commit(
                new_entry, replaced=entry is not None, doc=doc, chunks=chunks, vectors=vectors
            )
        except (IngestError, OSError) as exc:
            return self._refuse(key, collection, exc, digest, entry, report, st)
        self.quarantine.clear(key)
        for listener in self.on_ingest:  # e.g. the audit log's ingest record
            listener(doc, entry.doc_id if entry else None, len(chunks))
        (report.changed if entry else report.added).append(key)
        report.chunks += len(chunks)
        return ("changed" if entry else "added"), len(chunks)

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

    def _document(
        self, path: Path, doc_id: str, collection: str, size: int, parsed: ParsedDocument
    ) -> tuple[Document, list[Chunk]]:
        doc = Document(
            id=doc_id,
            path=str(path),
            title=parsed.title,
            collection=collection,
            mime_type=parsed.mime_type,
            size=size,
            ingested_at=utcnow().isoformat(),
        )
        drafts = chunk_elements(parsed.elements, self.chunk_size)
        chunks = [
            Chunk(chunk_id_for(doc_id, i, d.text), doc_id, i, d.text, d.page, d.section)
            for i, d in enumerate(drafts)
        ]
        if not chunks:
            raise EmptyDocument(f"no text could be extracted from {path.name}")
        return doc, chunks

    def _commit(
        self,
        entry: PathEntry,
        *,
        replaced: bool,
        doc: Document | None = None,
        chunks: Sequence[Chunk] = (),
        vectors: np.ndarray | None = None,
    ) -> None:
        """Store first for the truth, FAISS around it so readers see one version at a time."""
        new_ids = np.fromiter((c.vector_id for c in chunks), dtype=np.int64, count=len(chunks))
        if doc is not None and vectors is not None:
            self.index.add(new_ids, vectors)
        try:
            with self.store.transaction() as db:
                old = Erasure()
                if replaced:
                    old = unlink_paths(
                        db, [entry.path], actor=who("ingest"), reason="replaced", retire=True
                    )
                if doc is not None and vectors is not None:
                    Store.insert_document(db, doc, chunks, vectors)
                Store.upsert_path(db, entry)
                Journal.mark_in(db, entry.path, "committed", entry.doc_id, entry.collection)
        except BaseException:
            self.index.remove(new_ids.tolist())
            raise
        self.index.remove(old.vids)
        self._dirty = True
        self._notify(old.receipts)

    # -- erasure -----------------------------------------------------------------
    def forget(self, paths: Sequence[str]) -> list[str]:
        """Remove paths (files or folders) from the index. Returns the paths forgotten."""
        return self.erase(paths).paths

    def erase(
        self, targets: Sequence[str], *, actor: str | None = None, reason: str = "forgotten"
    ) -> Erasure:
        """Erase paths (files or folders) and document ids (or unique id prefixes ≥ 8)."""
        with self._lock:
            paths: list[str] = []
            for t in targets:
                found = self.store.paths_under([t])
                if not found and _looks_like_id(t):
                    ids = self.store.doc_ids_like(t.lower())
                    if len(ids) > 1:
                        raise NotFound(f"{t} matches {len(ids)} documents: give more of the id")
                    found = self.store.paths_of(ids[0]) if ids else []
                if not found:
                    raise NotFound(f"nothing indexed under {t}")
                paths.extend(p for p in found if p not in paths)
            return self._erase_paths(paths, actor or who("cli"), reason)

    def _erase_paths(self, paths: Sequence[str], actor: str, reason: str) -> Erasure:
        """Commit the erasure and take its vectors out of the live index; the disk follows.

        When this returns, no reader finds the documents (chunks gone, FAISS ids removed,
        FTS5 rows skipped) and a crash cannot bring them back (the store is the truth:
        the saved index is rebuilt from it when its generation is stale, queued FTS5
        rows are purged at start). Taking them off the disk -- index save, FTS5 purge
        and merge, WAL checkpoint -- is ``tick``'s work, run at the end of an ingest
        batch, when the watcher is next idle, and by ``close`` (``assistant forget``).
        """
        with self._lock:
            self._writer.acquire()
            lap = Laps()
            with self.store.transaction() as db:
                done = unlink_paths(db, paths, actor=actor, reason=reason)
            lap("store_s")  # chunks, paths and receipt, FTS5 rows queued, committed together
            self.index.remove(done.vids)
            lap("faiss_remove_s")
            if done.paths:
                self._dirty = True
            for r in done.receipts:
                self.quarantine.clear_sha256(r.sha256)
            self._notify(done.receipts)
            lap("listeners_s")
            done.timings = lap.seconds
            return done

    def _notify(self, receipts: Sequence[ErasureReceipt]) -> None:
        for receipt in receipts:
            for listener in self.on_erasure:
                listener(receipt)

    def _save(self) -> None:
        recovery.save(self.index, self.store)
        self._dirty = False
        self._saved_at = time.monotonic()


def _looks_like_id(text: str) -> bool:
    return 8 <= len(text) <= 64 and all(c in "0123456789abcdefABCDEF" for c in text)
