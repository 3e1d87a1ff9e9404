"""Light parsers for building the eval corpora quickly through the real Ingestor.

The product parser (unstructured, ``ingest.parsing.parse``) classifies every HTML
block with a spaCy sentence splitter: about 1-3 s a page on this machine, so
the 1,169-page PostgreSQL manual would take most of an hour to ingest before
the eval could start. The eval measures retrieval and answering, not parsing,
so its corpora go through the same Ingestor (hashing, chunking, embedding,
SQLite + FTS5 + FAISS commit) with these parsers instead: plain text as one
block, and HTML and Markdown split into the same element kinds
``ingest.parsing.parse`` emits (headings become ``title`` elements, which become
chunk sections).
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
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)(?:\s+#+)?$")
_MD_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+(.*)$")
_MD_TABLE_RULE = re.compile(r"^:?-{3,}:?$")
_MD_MARKS = re.compile(r"\*\*|__|`")


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


class MarkdownParser:
    """Markdown in document order: ``#`` headings become ``title`` elements, list items
    ``list``, table rows ``table`` (cells joined by " | ", the rule under the header
    left out), and paragraphs (lines up to a blank line) ``text``; bold and code marks
    dropped. The title is the first heading. Files that are not Markdown are plain text.
    """

    def parse(self, path: Path) -> ParsedDocument:
        if path.suffix.lower() not in {".md", ".markdown"}:
            return PlainTextParser().parse(path)
        elements: list[Element] = []
        paragraph: list[str] = []

        def end_paragraph() -> None:
            if paragraph:
                elements.append(Element(_clean(" ".join(paragraph)), "text"))
                paragraph.clear()

        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = _clean(_MD_MARKS.sub("", raw))
            heading, item = _MD_HEADING.match(line), _MD_ITEM.match(line)
            if heading or item or line.startswith("|") or not line:
                end_paragraph()
            if heading:
                elements.append(Element(heading.group(1), "title"))
            elif item:
                elements.append(Element(item.group(1), "list"))
            elif line.startswith("|"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                if not all(_MD_TABLE_RULE.match(c) for c in cells):
                    elements.append(Element(" | ".join(cells), "table"))
            elif line:
                paragraph.append(line)
        end_paragraph()
        elements = [e for e in elements if e.text]
        title = next((e.text for e in elements if e.kind == "title"), path.stem)
        return ParsedDocument(title=title[:200], mime_type="text/markdown", elements=elements)

    def close(self) -> None:
        """Nothing to release."""
