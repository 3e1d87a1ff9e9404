"""What the ingest pipeline needs of a parser (ingest/pipeline.py, ingest/prepare.py).

Any object with ``parse`` and ``close`` will do: the isolated pool (pool.py), or the
eval's and the bench's light in-process readers. One that can also start parses in
the background (``submit``, ``workers``) is a ``ConcurrentParser``, and the pipeline
then parses the next files ahead (ahead.py) while it embeds and commits this one.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ingest.parsing.parse import ParsedDocument, ParseOptions
from ingest.parsing.pool import ParserPool, shared_pool

if TYPE_CHECKING:
    from assistant.settings import Settings


class Parser(Protocol):
    def parse(self, path: Path) -> ParsedDocument: ...
    def close(self) -> None: ...


@runtime_checkable
class ConcurrentParser(Parser, Protocol):
    """A parser with ``workers`` processes that can start parses ahead of their turn."""

    workers: int

    def submit(self, path: Path) -> Future[ParsedDocument]: ...


def parser_from_settings(settings: Settings) -> ParserPool:
    """The isolated parser pool ``settings`` describe (shared by every Ingestor alike)."""
    options = ParseOptions(
        max_unzipped_bytes=settings.max_unzipped_mb * 1024 * 1024,
        tesseract_cmd=settings.tesseract_cmd,
        ocr_languages=tuple(settings.ocr_languages.split("+")),
        pdf_window_pages=settings.pdf_window_pages,
    )
    return shared_pool(
        options,
        timeout_s=settings.parse_timeout_s,
        memory_mb=settings.parse_memory_mb,
        workers=settings.parse_workers,
    )
