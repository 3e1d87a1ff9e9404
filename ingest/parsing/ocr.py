"""Scans and images read by tesseract, page by page, straight from its text output.

unstructured's "ocr_only" strategy rebuilds lines from tesseract's word boxes and then
matches them against tesseract's text; on Arabic that matching drops words (a Latin name
inside an Arabic line, words next to a number), and the loss is silent. Tesseract's own
text output keeps every word it read, in reading order for either direction. So pages
are rendered here (pypdfium2, at unstructured's OCR resolution) or opened (every frame of
a TIFF), read with ``ASSISTANT_OCR_LANGUAGES`` (default English and Arabic), and split
into paragraphs at blank lines. Tesseract's invisible direction marks are removed. A
first paragraph that is one short line without a full stop is the title.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.parsing.rtl_pdf import BIDI_CONTROLS

RawElement = tuple[str, str, int | None, str | None]

#: Pages rendered at this resolution, as unstructured's OCR does (``pdf_image_dpi``).
DPI = 200
#: A first paragraph this short, on one line and without a full stop, is a heading.
TITLE_CHARS = 80
_ENDS = (".", "!", "?", "؟", ":", ";")


def _read(image: Any, languages: tuple[str, ...]) -> str:
    import unstructured_pytesseract

    return str(unstructured_pytesseract.image_to_string(image, lang="+".join(languages)))


def paragraphs(text: str) -> list[list[str]]:
    """Tesseract's text as paragraphs (blank lines between them), each a list of lines."""
    out: list[list[str]] = []
    for block in text.translate(BIDI_CONTROLS).split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            out.append(lines)
    return out


def page_elements(text: str, page: int, *, first: bool) -> list[RawElement]:
    """One page's paragraphs; on the first page, a short first line on its own is a title."""
    found = paragraphs(text)
    out: list[RawElement] = []
    for i, lines in enumerate(found):
        paragraph = " ".join(lines)
        heading = first and i == 0 and len(found) > 1 and len(lines) == 1
        heading = heading and len(paragraph) <= TITLE_CHARS and not paragraph.endswith(_ENDS)
        out.append(("Title" if heading else "NarrativeText", paragraph, page, None))
    return out


def _frames(path: Path) -> Iterator[Any]:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            yield frame.convert("RGB")


def image_elements(path: Path, languages: tuple[str, ...]) -> list[RawElement]:
    """An image's text; each frame of a multi-page TIFF is a page."""
    out: list[RawElement] = []
    for page, frame in enumerate(_frames(path), start=1):
        out += page_elements(_read(frame, languages), page, first=page == 1)
    return out


def pdf_elements(
    source: Path | io.BytesIO, languages: tuple[str, ...], *, first_page: int = 1
) -> list[RawElement]:
    """A scanned PDF's text, its pages numbered from ``first_page``."""
    import pypdfium2

    data = source.getvalue() if isinstance(source, io.BytesIO) else str(source)
    pdf = pypdfium2.PdfDocument(data)
    out: list[RawElement] = []
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                image = page.render(scale=DPI / 72).to_pil()
            finally:
                page.close()
            number = first_page + index
            out += page_elements(_read(image, languages), number, first=number == 1)
    finally:
        pdf.close()
    return out
