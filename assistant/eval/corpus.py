"""Light parsers for building the eval corpora quickly through the real Ingestor.

The product parser (unstructured, ``ingest.parsing.parse``) classifies every HTML
block with a spaCy sentence splitter: about 1-3 s a page on this machine, so
the 1,169-page PostgreSQL manual would take most of an hour to ingest before
the eval could start. The eval measures retrieval and answering, not parsing,
so its corpora go through the same Ingestor (hashing, chunking, embedding,
SQLite + FTS5 + FAISS commit) with these parsers instead: plain text as one
block, and HTML split into the same element kinds ``ingest.parsing.parse`` emits
(headings become ``title`` elements, which become chunk sections).
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html

from ingest.parsing.parse import Element, ParsedDocument

_SPACE = re.compile(r"\s+")
_BLOCKS = frozenset("h1 h2 h3 h4 h5 h6 p pre li dt dd tr blockquote caption figcaption".split())
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_SKIP_CLASSES = ("navheader", "navfooter", "toc")


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class PlainTextParser:
    """A passage file is one text block; its title is the file name."""

    def parse(self, path: Path) -> ParsedDocument:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        return ParsedDocument(
            title=path.stem, mime_type="text/plain", elements=[Element(text, "text")]
        )

    def close(self) -> None:
        """Nothing to release."""


class HtmlParser:
    """Leaf blocks of an HTML page in document order; navigation and tables of contents skipped.

    Files that are not HTML (stylesheets, images) are read as plain text by
    ``parse`` of the caller's choice; here they yield no elements, and the
    Ingestor quarantines them as empty, as it would any file without text.
    """

    def parse(self, path: Path) -> ParsedDocument:
        if path.suffix.lower() not in {".html", ".htm", ".xhtml"}:
            return ParsedDocument(
                title=path.name, mime_type="application/octet-stream", elements=[]
            )
        root = lxml.html.fromstring(path.read_bytes())
        title = _clean(root.findtext(".//title") or "") or path.stem
        for node in root.xpath(
            "//*[" + " or ".join(f"contains(@class, '{c}')" for c in _SKIP_CLASSES) + "]"
        ):
            node.drop_tree()
        elements: list[Element] = []
        for node in root.iter():
            tag = node.tag if isinstance(node.tag, str) else ""
            if tag not in _BLOCKS or any(
                isinstance(d.tag, str) and d.tag in _BLOCKS for d in node.iterdescendants()
            ):
                continue
            if tag == "tr":
                text = " | ".join(_clean(c.text_content()) for c in node if isinstance(c.tag, str))
                kind = "table"
            else:
                text = _clean(node.text_content())
                kind = "title" if tag in _HEADINGS else "list" if tag == "li" else "text"
            if text:
                elements.append(Element(text, kind))
        return ParsedDocument(title=title, mime_type="text/html", elements=elements)

    def close(self) -> None:
        """Nothing to release."""
