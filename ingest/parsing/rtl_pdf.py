"""Arabic PDFs in reading order and in plain letters.

A PDF stores glyphs where they are drawn, and almost every Arabic PDF (Word's, a
browser's, LibreOffice's) draws them shaped and left to right. pdfminer, under
unstructured's "fast" strategy, hands them back in that order: every Arabic line comes
out reversed and written in presentation forms (``ﺪﻌﺑ ﻦﻋ ﻞﻤﻌﻟا`` for ``العمل عن بعد``),
and a line that mixes scripts ("برنامج VPN عند ...") is cut into pieces in the wrong
order. Such text matches no search and no question, and a quote from it is unreadable.

So when the fast pass finds Arabic on a page range, that range is read again here:
pdfminer's text lines, pieces on the same baseline joined, each line's characters put in
drawing order (left to right by position) and then in reading order with the Unicode
bidirectional algorithm (python-bidi: Arabic runs reversed, numbers and Latin runs kept),
and presentation forms folded to letters (NFKC, applied after reordering so that a
lam-alef ligature expands in the right order). Lines make paragraphs where they are close
and a title where the type is large. Pages without Arabic are left as unstructured made
them: this costs nothing for documents in English.
"""

from __future__ import annotations

import io
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

#: Arabic letters, presentation forms included.
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufefc]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")
_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufefc]+")
#: Invisible direction marks (LRM, RLM, embeddings, isolates): tesseract and some PDF
#: writers put them around runs of the other direction; they only split words.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e"))
BIDI_CONTROLS.update(dict.fromkeys(range(0x2066, 0x206A)))

#: Pieces on the same baseline further apart than this many character heights are
#: different columns, not one line cut where the script changes.
JOIN_GAP = 1.5
#: Baselines further apart than this many times the page's line pitch start a paragraph.
PARAGRAPH_PITCH = 1.25
#: Type this much larger than the page's usual size makes a title.
TITLE_SIZE = 1.25

RawElement = tuple[str, str, int | None, str | None]


def has_arabic(texts: Iterable[str]) -> bool:
    return any(_ARABIC.search(t) for t in texts)


def plain_letters(text: str) -> str:
    """Presentation forms (shaped glyphs, ligatures) folded to the letters they stand for,
    and direction marks removed; nothing else in ``text`` changes."""
    text = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return text.translate(BIDI_CONTROLS)


def right_to_left(text: str) -> bool | None:
    """True when ``text`` has more Arabic letters than Latin ones; None with neither."""
    arabic, latin = len(_ARABIC.findall(text)), len(_LATIN.findall(text))
    return None if arabic == latin == 0 else arabic >= latin


def _or(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def reading_order(visual: str, rtl: bool) -> str:
    """A line's characters, given in drawing order (left to right), in reading order, in
    a paragraph running right to left (``rtl``) or left to right."""
    from bidi import get_display

    return plain_letters(get_display(visual, base_dir="R" if rtl else "L"))


@dataclass
class _Line:
    """Characters on one baseline, from one or more of pdfminer's text lines."""

    x0: float
    x1: float
    y0: float
    y1: float
    chars: list[Any] = field(default_factory=list)

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def size(self) -> float:
        sizes = [c.size for c in self.chars if c.get_text().strip()]
        return statistics.median(sizes) if sizes else self.height

    @property
    def base(self) -> float:
        """Where the line stands: the median bottom of its characters."""
        return statistics.median(c.y0 for c in self.chars)

    def same_baseline(self, other: _Line) -> bool:
        overlap = min(self.y1, other.y1) - max(self.y0, other.y0)
        gap = max(other.x0 - self.x1, self.x0 - other.x1)
        # a third: a Latin run in another font sits higher or lower than the Arabic around it
        return overlap > 0.3 * min(self.height, other.height) and gap < JOIN_GAP * self.height

    def absorb(self, other: _Line) -> None:
        self.x0, self.x1 = min(self.x0, other.x0), max(self.x1, other.x1)
        self.y0, self.y1 = min(self.y0, other.y0), max(self.y1, other.y1)
        self.chars += other.chars
        self.__dict__.pop("drawn", None)  # read again from the joined characters

    @cached_property
    def drawn(self) -> str:
        """The line as drawn: characters by position, a space where a gap is (read once:
        paragraph grouping and direction ask for it line after line)."""
        out: list[str] = []
        previous = None
        for char in sorted(self.chars, key=lambda c: c.x0):
            glyph = char.get_text()
            spaced = glyph == " " or not out or out[-1] == " "
            if previous is not None and not spaced and char.x0 - previous.x1 > 0.2 * char.size:
                out.append(" ")
            out.append(glyph)
            previous = char
        return "".join(out)


def _text_lines(layout: Any) -> Iterable[Any]:
    from pdfminer.layout import LTTextLine

    for item in layout:
        if isinstance(item, LTTextLine):
            yield item
        elif hasattr(item, "__iter__"):
            yield from _text_lines(item)


def _lines(page: Any) -> list[_Line]:
    """The page's lines, top to bottom, pieces on one baseline joined."""
    from pdfminer.layout import LTChar

    lines: list[_Line] = []
    for piece in _text_lines(page):
        chars = [c for c in piece if isinstance(c, LTChar)]
        if not chars:
            continue
        line = _Line(piece.x0, piece.x1, piece.y0, piece.y1, chars)
        home = next((other for other in lines if other.same_baseline(line)), None)
        if home is None:
            lines.append(line)
        else:
            home.absorb(line)
    return sorted(lines, key=lambda line: (-line.y1, line.x0))


def _pitch(upper: _Line, lower: _Line) -> float | None:
    """How far below ``upper``'s baseline ``lower``'s is, for two lines of one type size."""
    if abs(upper.size - lower.size) >= 0.15 * upper.size:
        return None
    return upper.base - lower.base


def _turns(paragraph: Sequence[_Line], line: _Line) -> bool:
    """True when ``line`` runs one way and ``paragraph`` the other (a translation below)."""
    a = right_to_left(" ".join(upper.drawn for upper in paragraph))
    b = right_to_left(line.drawn)
    return a is not None and b is not None and a != b


def _paragraphs(lines: Sequence[_Line]) -> list[list[_Line]]:
    """Lines grouped where they follow at the page's own line pitch: the smallest distance
    between two baselines of one size. Fonts differ too much for a fixed measure (Arabic
    faces set lines twice as far apart as Latin ones at the same size)."""
    pitches = [p for a, b in pairwise(lines) if (p := _pitch(a, b))]
    line_pitch = min((p for p in pitches if p > 0), default=None)
    groups: list[list[_Line]] = []
    for line in lines:
        if groups and line_pitch is not None and not _turns(groups[-1], line):
            pitch = _pitch(groups[-1][-1], line)
            if pitch is not None and 0 < pitch <= PARAGRAPH_PITCH * line_pitch:
                groups[-1].append(line)
                continue
        groups.append([line])
    return groups


def page_elements(page: Any, number: int) -> list[RawElement]:
    """One page's elements in reading order, as ``parse.RawElement`` tuples."""
    lines = _lines(page)
    if not lines:
        return []
    usual = statistics.median(line.size for line in lines)
    page_rtl = right_to_left(" ".join(line.drawn for line in lines)) is not False
    out: list[RawElement] = []
    for group in _paragraphs(lines):
        drawn = [line.drawn for line in group]
        own = right_to_left(" ".join(drawn))
        fallback = page_rtl if own is None else own  # for a line of digits alone
        texts = [reading_order(d, _or(right_to_left(d), fallback)).strip() for d in drawn]
        text = " ".join(t for t in texts if t)
        if not text:
            continue
        title = len(group) <= 2 and group[0].size >= TITLE_SIZE * usual
        out.append(("Title" if title else "NarrativeText", text, number, None))
    return out


def reread(
    source: Path | io.BytesIO, raw: Sequence[RawElement], *, first_page: int = 1
) -> list[RawElement]:
    """``raw`` (the fast pass's elements of ``source``, whose first page is numbered
    ``first_page``) with each page that holds Arabic read again in reading order. Page by
    page, so a long PDF parsed in windows (pdf_windows.py) comes out as in one piece."""
    arabic = {page for _, text, page, _ in raw if page is not None and _ARABIC.search(text)}
    if not arabic:
        return list(raw)
    from pdfminer.high_level import extract_pages

    if not isinstance(source, Path):
        source.seek(0)
    numbers = [page - first_page for page in sorted(arabic)]
    pages = {
        page: page_elements(layout, page)
        for page, layout in zip(
            sorted(arabic), extract_pages(source, page_numbers=numbers), strict=True
        )
    }
    out: list[RawElement] = []
    for element in raw:
        page = element[2]
        if page not in pages:
            out.append(element)
        elif page not in {e[2] for e in out[-1:]}:  # the page's first element: all of it
            out += pages[page]
    return out
