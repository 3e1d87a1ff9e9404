"""Parse a file into plain elements with unstructured, offline.

The output is a list of small dataclasses (text, kind, page, section) so the
rest of the pipeline never touches unstructured's types, and so parsing can
run in a child process and send its result back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import EmptyDocument, IngestError, UnsupportedFormat

log = logging.getLogger(__name__)

#: Extensions we hand to unstructured. Anything else is refused with a reason.
SUPPORTED_SUFFIXES = frozenset(
    {
        ".pdf",
        ".docx",
        ".pptx",
        ".xlsx",
        ".html",
        ".htm",
        ".md",
        ".markdown",
        ".txt",
        ".text",
        ".eml",
    }
)

#: unstructured categories that carry no body text worth citing.
_SKIPPED_CATEGORIES = frozenset({"Header", "Footer", "PageNumber", "PageBreak", "Image"})


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


def _kind(category: str) -> str:
    if category == "Title":
        return "title"
    if category == "ListItem":
        return "list"
    if category == "Table":
        return "table"
    return "text"


def _partition(path: Path) -> list[Any]:
    from unstructured.partition.auto import partition

    suffix = path.suffix.lower()
    kwargs: dict[str, Any] = {}
    if suffix == ".pdf":
        # "fast" reads the text layer with pdfminer: no layout model, no download.
        kwargs["strategy"] = "fast"
    return list(partition(filename=str(path), **kwargs))


def parse_file(path: Path) -> ParsedDocument:
    """Parse one file. Raises an ``IngestError`` subclass with a reason on failure."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormat(f"unsupported file type {suffix or '(none)'!r}: {path.name}")
    _forbid_model_downloads()
    try:
        raw = _partition(path)
    except IngestError:
        raise
    except Exception as exc:  # unstructured raises anything from any parser it wraps
        raise IngestError(f"{type(exc).__name__}: {exc}") from exc

    elements: list[Element] = []
    mime_type = ""
    for el in raw:
        category = getattr(el, "category", "") or ""
        text = (getattr(el, "text", "") or "").strip()
        meta = getattr(el, "metadata", None)
        if meta is not None and not mime_type:
            mime_type = getattr(meta, "filetype", "") or ""
        if category in _SKIPPED_CATEGORIES or not text:
            continue
        page = getattr(meta, "page_number", None) if meta is not None else None
        elements.append(Element(text=text, kind=_kind(category), page=page))

    if not elements:
        raise EmptyDocument(f"no text could be extracted from {path.name}")
    title = next((e.text for e in elements if e.kind == "title"), path.stem)
    return ParsedDocument(title=title[:200], mime_type=mime_type, elements=elements)
