"""Ingest files: identify by content hash, skip what is unchanged, parse, chunk, embed, index.

Every file ends in exactly one outcome -- added, changed, duplicate, skipped or
quarantined (with a reason) -- so nothing is ever silently dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from assistant.domain import Chunk, Document, chunk_id_for, sha256_hex, utcnow
from assistant.errors import EmptyDocument, FileTooLarge, IngestError
from ingest.chunk import chunk_elements
from ingest.embed import Embedder
from ingest.index import VectorIndex
from ingest.parse import parse_file
from ingest.store import PathEntry, Store

Progress = Callable[[Path, str, int], None]


@dataclass(frozen=True, slots=True)
class Quarantined:
    path: str
    code: str
    message: str
    sha256: str
    at: str


@dataclass(slots=True)
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, int | float]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "duplicates": len(self.duplicates),
            "skipped": len(self.skipped),
            "quarantined": len(self.quarantined),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 2),
        }


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under ``paths`` (recursively), hidden files and folders left out, in stable order."""
    found: list[Path] = []
    for p in paths:
        p = p.resolve()
        if p.is_dir():
            found.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            found.append(p)
        else:
            raise IngestError(f"no such file or directory: {p}")
    return found


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the section title gives a short chunk its context."""
    if chunk.section and not chunk.text.startswith(chunk.section):
        return f"{chunk.section}\n{chunk.text}"
    return chunk.text


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
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.quarantine_dir = quarantine_dir
        self.max_file_bytes = max_file_bytes

    def ingest(
        self, paths: Sequence[Path], collection: str, progress: Progress | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        for path in discover(paths):
            outcome, n = self._ingest_one(path, collection, report)
            if progress is not None:
                progress(path, outcome, n)
        self.index.save()
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_one(self, path: Path, collection: str, report: IngestReport) -> tuple[str, int]:
        key = str(path)
        digest = ""
        try:
            st = path.stat()
            entry = self.store.path_entry(key)
            if entry and entry.mtime_ns == st.st_mtime_ns and entry.size == st.st_size:
                report.skipped.append(key)
                return "skipped", 0
            if st.st_size > self.max_file_bytes:
                raise FileTooLarge(
                    f"{st.st_size:,} bytes is over the {self.max_file_bytes:,}-byte limit"
                )
            if st.st_size == 0:
                raise EmptyDocument("the file is empty (0 bytes)")
            data = path.read_bytes()
            digest = sha256_hex(data)
            new_entry = PathEntry(key, digest, collection, st.st_mtime_ns, st.st_size)
            if entry and entry.doc_id == digest:  # touched, same bytes
                with self.store.transaction() as db:
                    Store.upsert_path(db, new_entry)
                report.skipped.append(key)
                return "skipped", 0
            if self.store.has_document(digest):  # same bytes known under another path
                self._commit(new_entry, replaced=entry is not None)
                report.duplicates.append(key)
                return "duplicate", 0
            doc, chunks = self._parse(path, digest, collection, len(data))
            vectors = self.embedder.embed([embedding_text(c) for c in chunks])
            self._commit(
                new_entry, replaced=entry is not None, doc=doc, chunks=chunks, vectors=vectors
            )
        except IngestError as exc:
            report.quarantined.append(self._quarantine(path, exc.code, exc.message, digest))
            return "quarantined", 0
        except OSError as exc:
            report.quarantined.append(self._quarantine(path, "os_error", str(exc), digest))
            return "quarantined", 0
        (report.changed if entry else report.added).append(key)
        report.chunks += len(chunks)
        return ("changed" if entry else "added"), len(chunks)

    def _parse(
        self, path: Path, doc_id: str, collection: str, size: int
    ) -> tuple[Document, list[Chunk]]:
        parsed = parse_file(path)
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
        """One transaction: drop what the path held before, add the new document, map the path."""
        with self.store.transaction() as db:
            removed = Store.delete_path(db, entry.path) if replaced else []
            if doc is not None and vectors is not None:
                Store.insert_document(db, doc, chunks, vectors)
            Store.upsert_path(db, entry)
        self.index.remove(removed)
        if doc is not None and vectors is not None:
            self.index.add(np.fromiter((c.vector_id for c in chunks), dtype=np.int64), vectors)

    def forget(self, paths: Sequence[str]) -> list[str]:
        """Remove paths (files or folders) from the index. Returns the paths forgotten."""
        targets = self.store.paths_under(paths)
        removed: list[int] = []
        with self.store.transaction() as db:
            for p in targets:
                removed.extend(Store.delete_path(db, p))
        self.index.remove(removed)
        self.index.save()
        return targets

    def _quarantine(self, path: Path, code: str, message: str, digest: str) -> Quarantined:
        entry = Quarantined(str(path), code, message, digest, utcnow().isoformat())
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        name = (digest or sha256_hex(str(path)))[:16] + ".json"
        (self.quarantine_dir / name).write_text(
            json.dumps(asdict(entry), indent=2), encoding="utf-8"
        )
        return entry
