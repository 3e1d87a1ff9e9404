# Over 300 lines: every format's unstructured call and the offline set-up they share, in one place.
"""Parse a file into plain elements with unstructured, offline.

The output is a list of small dataclasses (text, kind, page) so the rest of the
pipeline never touches unstructured's types, and so parsing can run in a child
process (ingest/parsing/isolate.py) and send its result back.

The parser is chosen from the content (ingest/parsing/detect.py), not the extension.
Text is decoded here, with the detected encoding, and handed to unstructured
as a string. A PDF without a text layer and an image go through tesseract
(ingest/parsing/ocr.py; never unstructured's layout model, which would come from a hub);
without tesseract or its language data they are refused with "OCR not available". A PDF
with Arabic is read again in reading order (ingest/parsing/rtl_pdf.py).
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from assistant.errors import (
    CorruptFile,
    EmptyDocument,
    EncryptedDocument,
    IngestError,
    OcrUnavailable,
    ParseMemoryLimit,
    TooDeeplyNested,
)
from ingest.parsing import ocr, rtl_pdf
from ingest.parsing.detect import Detected, decode_text, detect

log = logging.getLogger(__name__)

#: lxml's HTML parser silently drops everything below ~254 levels; refuse before that.
MAX_HTML_DEPTH = 200

#: unstructured categories that carry no body text worth citing ...
_SKIPPED_CATEGORIES = frozenset({"Header", "Footer", "PageNumber", "PageBreak", "Image"})
#: ... unless they are all there is (a one-line PDF's only line is classed as a header).
_FALLBACK_CATEGORIES = frozenset({"Header", "Footer"})


#: What the parser child sends back per unstructured element: (category, text, page,
#: sheet name). Small and picklable; the document-wide choices (which categories to keep,
#: the title) are made once over all of them in :func:`assemble`, so a PDF parsed in page
#: windows (ingest/parsing/pdf_windows.py) ends up exactly as one parsed in one piece.
RawElement = tuple[str, str, int | None, str | None]


@dataclass(frozen=True, slots=True)
class Element:
    text: str
    kind: str  # "title" | "text" | "list" | "table"
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    title: str
    mime_type: str
    elements: list[Element]
    ocr: bool = False


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the parser needs from Settings; small and picklable for the child process."""

    max_unzipped_bytes: int = 1024 * 1024 * 1024
    tesseract_cmd: str = "tesseract"
    ocr_languages: tuple[str, ...] = ("eng", "ara")
    #: A PDF with more pages is parsed in windows of this many pages (0: always in one piece).
    pdf_window_pages: int = 64


def _forbid_model_downloads() -> None:
    """Make unstructured's run-time spaCy download fail loudly instead of calling out.

    The model must come from the installed ``en_core_web_sm`` alias (see
    deploy/spacy-shim). If it is missing, unstructured would download it from
    the internet, or offline return zero elements without raising.
    """
    from unstructured.nlp import tokenize

    def _refuse() -> None:
        raise IngestError(
            "the spaCy model en_core_web_sm is not installed and may not be downloaded",
            hint="install it offline: pip install ./deploy/spacy-shim",
        )

    tokenize._install_spacy_model = _refuse


def ocr_available(tesseract_cmd: str) -> bool:
    return shutil.which(tesseract_cmd) is not None


@functools.cache
def ocr_languages(tesseract_cmd: str) -> frozenset[str]:
    """The languages ``tesseract_cmd`` has data for (``tesseract --list-langs``)."""
    try:
        listed = subprocess.run(
            [tesseract_cmd, "--list-langs"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def require_ocr(options: ParseOptions, what: str) -> None:
    if not ocr_available(options.tesseract_cmd):
        raise OcrUnavailable(
            f"OCR not available: {what} needs tesseract ({options.tesseract_cmd!r} not found)",
            hint="apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-ara, "
            "then ingest again",
        )
    missing = [x for x in options.ocr_languages if x not in ocr_languages(options.tesseract_cmd)]
    if missing:
        raise OcrUnavailable(
            f"OCR not available: {what} needs tesseract's data for {'+'.join(missing)}, "
            "which is not installed",
            hint=f"apt-get install {' '.join(f'tesseract-ocr-{x}' for x in missing)}, "
            "or set ASSISTANT_OCR_LANGUAGES to languages installed; then ingest again",
        )
    import unstructured_pytesseract

    unstructured_pytesseract.pytesseract.tesseract_cmd = options.tesseract_cmd


def _kind(category: str) -> str:
    if category == "Title":
        return "title"
    if category == "ListItem":
        return "list"
    if category == "Table":
        return "table"
    return "text"


class _DepthMeter(HTMLParser):
    """Deepest element nesting, counted without building a tree (no recursion)."""

    _NOT_NESTING = frozenset(
        "area base br col embed hr img input link meta source track wbr p li dt dd tr td th "
        "option".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.depth = 0
        self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._NOT_NESTING:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._NOT_NESTING:
            self.depth = max(0, self.depth - 1)


def check_html_depth(html: str) -> None:
    meter = _DepthMeter()
    meter.feed(html)
    meter.close()
    if meter.deepest > MAX_HTML_DEPTH:
        raise TooDeeplyNested(
            f"HTML nested {meter.deepest:,} levels deep (limit {MAX_HTML_DEPTH}): "
            "parsers cut such documents off and their text would be lost silently"
        )


def check_pdf(path: Path) -> int:
    """Refuse truncated and password-protected PDFs with a reason, before pdfminer guesses.

    Returns the number of pages."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 2048))
        tail = fh.read()
    if b"%%EOF" not in tail:
        raise CorruptFile(
            "the PDF is truncated (no end-of-file marker): an interrupted copy or download?",
            hint="copy the complete file into the folder again",
        )
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocument(
                "the PDF is password-protected", hint="save an unprotected copy"
            )
        return len(reader.pages)
    except PyPdfError as exc:
        raise CorruptFile(f"a damaged PDF: {type(exc).__name__}: {exc}") from exc


def _partition(
    path: Path, detected: Detected, options: ParseOptions
) -> tuple[list[RawElement], bool]:
    """The raw elements of ``path``, and whether OCR produced them."""
    kind = detected.kind
    if kind == "pdf":
        from unstructured.partition.pdf import partition_pdf

        check_pdf(path)
        # "fast" reads the text layer with pdfminer: no layout model, no download.
        raw = raw_elements(list(partition_pdf(filename=str(path), strategy="fast")))
        if any_text(raw):
            return rtl_pdf.reread(path, raw), False  # Arabic pages again, in reading order
        require_ocr(options, "this PDF has no text layer (a scan?) and")
        return ocr.pdf_elements(path, options.ocr_languages), True
    if kind == "image":
        require_ocr(options, "an image")
        return ocr.image_elements(path, options.ocr_languages), True
    if kind == "docx":
        from unstructured.partition.docx import partition_docx

        return raw_elements(partition_docx(filename=str(path))), False
    if kind == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return raw_elements(partition_pptx(filename=str(path))), False
    if kind == "xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return raw_elements(partition_xlsx(filename=str(path))), False
    if kind == "eml":
        from unstructured.partition.email import partition_email

        return raw_elements(partition_email(filename=str(path))), False
    text = decode_text(path.read_bytes())
    if kind == "html":
        from unstructured.partition.html import partition_html

        check_html_depth(text)
        return raw_elements(partition_html(text=text)), False
    if kind == "md":
        from unstructured.partition.md import partition_md

        return raw_elements(partition_md(text=text)), False
    from unstructured.partition.text import partition_text

    return raw_elements(partition_text(text=text)), False


def raw_elements(raw: Iterable[Any]) -> list[RawElement]:
    """unstructured's elements as plain tuples (see :data:`RawElement`)."""
    out: list[RawElement] = []
    for el in raw:
        meta = getattr(el, "metadata", None)
        out.append(
            (
                getattr(el, "category", "") or "",
                (getattr(el, "text", "") or "").translate(rtl_pdf.BIDI_CONTROLS).strip(),
                getattr(meta, "page_number", None) if meta is not None else None,
                getattr(meta, "page_name", None) if meta is not None else None,
            )
        )
    return out


def _elements(raw: Sequence[RawElement], skipped: frozenset[str]) -> tuple[list[Element], bool]:
    """Our elements, and whether any carries the document's own text.

    A spreadsheet's sheet name becomes a heading so chunks can cite it; such
    headings alone (an empty workbook) do not count as text.
    """
    elements: list[Element] = []
    has_text = False
    sheet: str | None = None
    for category, text, page, page_name in raw:
        if page_name and page_name != sheet:
            sheet = page_name
            elements.append(Element(text=page_name, kind="title", page=page))
        if category in skipped or not text:
            continue
        has_text = True
        elements.append(Element(text=text, kind=_kind(category), page=page))
    return elements, has_text


def _out_of_memory(exc: BaseException) -> bool:
    """Under RLIMIT_AS a failed mmap surfaces as ImportError/OSError, not MemoryError."""
    text = str(exc)
    return isinstance(exc, OSError | ImportError) and (
        "failed to map segment" in text or "Cannot allocate memory" in text
    )


@contextmanager
def parser_errors() -> Iterator[None]:
    """Whatever a wrapped parser raises becomes an ``IngestError`` with a reason."""
    try:
        _forbid_model_downloads()
        yield
    except (IngestError, MemoryError):
        raise
    except RecursionError as exc:
        raise TooDeeplyNested(f"the document is nested too deeply to parse: {exc}") from exc
    except Exception as exc:  # unstructured raises anything from any parser it wraps
        if _out_of_memory(exc):
            raise ParseMemoryLimit(f"out of memory while parsing: {exc}") from exc
        raise IngestError(f"{type(exc).__name__}: {exc}") from exc


def any_text(raw: Sequence[RawElement]) -> bool:
    """What the "fast" PDF pass must find before OCR is skipped."""
    return any(text for _, text, _, _ in raw)


def assemble(path: Path, mime_type: str, raw: Sequence[RawElement], ocr: bool) -> ParsedDocument:
    """The document from all its raw elements: what to keep, its title, or EmptyDocument."""
    elements, found = _elements(raw, _SKIPPED_CATEGORIES)
    if not found:
        elements, found = _elements(raw, _SKIPPED_CATEGORIES - _FALLBACK_CATEGORIES)
    if not found:
        how = " even with OCR" if ocr else ""
        raise EmptyDocument(f"no text could be extracted from {path.name}{how}")
    title = next((e.text for e in elements if e.kind == "title"), path.stem)
    return ParsedDocument(title=title[:200], mime_type=mime_type, elements=elements, ocr=ocr)


def parse_file(path: Path, options: ParseOptions | None = None) -> ParsedDocument:
    """Detect and parse one file in one piece. Raises an ``IngestError`` subclass with a
    reason on failure. (The parser child streams long PDFs instead: pdf_windows.py.)"""
    options = options or ParseOptions()
    detected = detect(path, max_unzipped_bytes=options.max_unzipped_bytes)
    with parser_errors():
        raw, ocr = _partition(path, detected, options)
    return assemble(path, detected.mime_type, raw, ocr)
