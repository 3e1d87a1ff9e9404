"""Prepare: one file's bytes into what the store will hold (detect, parse, chunk, embed
with each embedder: MiniLM's vectors, and the multilingual ones when that index is on).

No store access, no index, no journal: a step is reported through ``mark`` and the
caller decides what that means (the single writer journals it, ingest/commit.py).
This is the seam distributed ingestion uses: prepare runs anywhere (ingest/remote.py,
on a Ray cluster through ingest/ray_prepare.py), commit on the one machine that writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.domain import Chunk, Document, chunk_id_for, utcnow
from assistant.errors import EmptyDocument, FileChangedWhileReading, FileTooLarge
from assistant.models.embed import Embedder
from ingest.chunk import chunk_elements
from ingest.files import embedding_text
from ingest.parsing.parse import ParsedDocument
from ingest.parsing.parser import Parser

Mark = Callable[[str], None]
"""Told each step a file passes ("parsed", "embedded"): the journal, for the writer."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document ready to commit: its record, its chunks and their vectors, in order."""

    doc: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    #: the multilingual embedder's vectors of the same chunks (None: that embedder is off)
    multilingual: np.ndarray | None = None


class RemotePreparer(Protocol):
    """Prepares files elsewhere, ``workers`` at a time (ingest/ray_prepare.py), from their
    bytes: a refusal comes back as the ``IngestError`` a local prepare raises, anything
    else as ``RemoteFailed``."""

    @property
    def workers(self) -> int: ...

    def submit(self, path: Path, digest: str, collection: str) -> Future[Prepared]: ...
    def close(self) -> None: ...


class RemoteFailed(Exception):
    """Not a reason about the file: the remote side failed (its retries after lost
    workers spent, a node without the model). The writer prepares the file itself."""


class Preparer:
    def __init__(
        self,
        parser: Parser,
        embedder: Embedder,
        *,
        chunk_size: int,
        chunk_overlap: int = 0,
        max_file_bytes: int,
        multilingual: Embedder | None = None,
    ) -> None:
        self.parser = parser
        self.embedder = embedder
        self.multilingual = multilingual  # the second index's embedder, when on
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_file_bytes = max_file_bytes

    def check(self, st: os.stat_result) -> None:
        """Refuse before reading: over the size cap, or empty."""
        if st.st_size > self.max_file_bytes:
            raise FileTooLarge(
                f"{st.st_size:,} bytes is over the {self.max_file_bytes:,}-byte limit",
                hint="raise ASSISTANT_MAX_FILE_MB or split the file",
            )
        if st.st_size == 0:
            raise EmptyDocument("the file is empty (0 bytes)")

    def prepare(
        self,
        path: Path,
        digest: str,
        collection: str,
        st: os.stat_result,
        *,
        started: Future[ParsedDocument] | None = None,
        mark: Mark = lambda _step: None,
    ) -> Prepared:
        """Parse (or take the parse ``started`` ahead for these bytes), chunk and embed."""
        parsed = started.result() if started is not None else self.parser.parse(path)
        self.unchanged(path, st)
        mark("parsed")
        return self.finish(path, digest, collection, st.st_size, parsed, mark)

    def finish(
        self,
        path: Path,
        digest: str,
        collection: str,
        size: int,
        parsed: ParsedDocument,
        mark: Mark = lambda _step: None,
    ) -> Prepared:
        """Chunk and embed a parsed file (with each embedder)."""
        doc, chunks = self.document(path, digest, collection, size, parsed)
        texts = [embedding_text(c) for c in chunks]
        vectors = self.embedder.embed(texts)
        second = self.multilingual.embed(texts) if self.multilingual is not None else None
        mark("embedded")
        return Prepared(doc, chunks, vectors, second)

    def receive(
        self,
        path: Path,
        st: os.stat_result,
        prepared: Future[Prepared],
        *,
        mark: Mark = lambda _step: None,
    ) -> Prepared:
        """Take a file prepared elsewhere (ingest/remote.py) from these very bytes: it was
        parsed and embedded there, so both steps are marked when it arrives."""
        result = prepared.result()
        self.unchanged(path, st)
        mark("parsed")
        mark("embedded")
        return result

    @staticmethod
    def unchanged(path: Path, st: os.stat_result) -> None:
        """Refuse a file whose size or mtime moved since ``st`` (read while being copied)."""
        after = path.stat()
        if (after.st_mtime_ns, after.st_size) != (st.st_mtime_ns, st.st_size):
            raise FileChangedWhileReading(
                "the file changed while it was read (a copy in progress?); "
                "it is read again at its next change",
                hint="run `assistant ingest --retry` if it does not change again",
            )

    def document(
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
        drafts = chunk_elements(parsed.elements, self.chunk_size, overlap=self.chunk_overlap)
        chunks = [
            Chunk(chunk_id_for(doc_id, i, d.text), doc_id, i, d.text, d.page, d.section)
            for i, d in enumerate(drafts)
        ]
        if not chunks:
            raise EmptyDocument(f"no text could be extracted from {path.name}")
        return doc, chunks
