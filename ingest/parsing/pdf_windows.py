"""Parse a long PDF in windows of pages, so memory and the timeout are bounded per window.

pdfminer (under unstructured's "fast" strategy) keeps what it parsed of a
document until the end: R's 2,415-page reference manual took ~900 MiB and ~10
minutes in one piece, past any sensible per-file timeout. unstructured has no
page range of its own (only ``starting_page_number``), so the parser child cuts
pages ``first``..``last`` into a small PDF in memory with pikepdf (qpdf: ~0.1 s
per window even on that manual) and partitions that, numbering its pages from
``first``, so citations keep the true page.

Everything unstructured's fast path does is per page (extraction, sorting), and
a chunk never crosses a page (ingest/chunk.py), so the windows' elements,
concatenated and then assembled once (ingest/parsing/parse.py: which categories to keep,
the title, the OCR fallback when no page has text), give the same document as
one piece. One difference, for the better: unstructured drops a whole PDF when
one page looks like a CAD drawing (``is_pdf_too_complex``); here only that window.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.parsing import rtl_pdf
from ingest.parsing.detect import detect
from ingest.parsing.ocr import pdf_elements as ocr_pdf
from ingest.parsing.parse import (
    ParsedDocument,
    ParseOptions,
    RawElement,
    any_text,
    assemble,
    check_pdf,
    parse_file,
    parser_errors,
    raw_elements,
    require_ocr,
)

#: Parses pages ``first``..``last`` (1-based, inclusive); ``ocr`` for the scan fallback.
WindowParser = Callable[[int, int, bool], list[RawElement]]


@dataclass(frozen=True, slots=True)
class PagedPdf:
    """The parser child's answer for a PDF too long for one piece: ask for its windows next."""

    pages: int
    mime_type: str


def plan(path: Path, options: ParseOptions) -> ParsedDocument | PagedPdf:
    """The parsed document, or for a PDF of more than ``options.pdf_window_pages`` pages
    its page count (checked for truncation and encryption first)."""
    if options.pdf_window_pages:
        detected = detect(path, max_unzipped_bytes=options.max_unzipped_bytes)
        if detected.kind == "pdf":
            with parser_errors():
                pages = check_pdf(path)
            if pages > options.pdf_window_pages:
                return PagedPdf(pages, detected.mime_type)
    return parse_file(path, options)


def windows(pages: int, size: int) -> list[tuple[int, int]]:
    """1-based inclusive page ranges of at most ``size`` pages covering ``pages``."""
    return [(first, min(first + size - 1, pages)) for first in range(1, pages + 1, size)]


def _cut(path: Path, first: int, last: int) -> io.BytesIO:
    """Pages ``first``..``last`` of ``path`` as a PDF of their own, in memory."""
    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(path) as src, warnings.catch_warnings():
        # Links and named destinations may not survive the copy; only text is read here.
        warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
        window = pikepdf.new()
        window.pages.extend(src.pages[first - 1 : last])
        window.save(out)
    out.seek(0)
    return out


def parse_window(
    path: Path, first: int, last: int, options: ParseOptions, *, ocr: bool
) -> list[RawElement]:
    """The raw elements of pages ``first``..``last``, numbered as in the whole file."""
    with parser_errors():
        data = _cut(path, first, last)
        if ocr:
            require_ocr(options, "this PDF has no text layer (a scan?) and")
            return ocr_pdf(data, options.ocr_languages, first_page=first)
        from unstructured.partition.pdf import partition_pdf

        raw = partition_pdf(file=data, strategy="fast", starting_page_number=first)
        return rtl_pdf.reread(data, raw_elements(list(raw)), first_page=first)


def assemble_windows(
    path: Path, paged: PagedPdf, parts: Sequence[Sequence[RawElement]], ocr: bool
) -> ParsedDocument:
    return assemble(path, paged.mime_type, [e for part in parts for e in part], ocr)


def parse_paged(path: Path, paged: PagedPdf, size: int, parse: WindowParser) -> ParsedDocument:
    """Window after window through ``parse``; OCR windows only if no page had a text layer."""
    spans = windows(paged.pages, size)
    parts = [parse(first, last, False) for first, last in spans]
    ocr = not any(any_text(p) for p in parts)
    if ocr:
        parts = [parse(first, last, True) for first, last in spans]
    return assemble_windows(path, paged, parts, ocr)
