"""Section- and page-aware chunking.

A chunk never crosses a heading or a page, so every chunk has exactly one
section title and one page to cite. Within a section, elements are packed up
to ``max_chars``; an element longer than that is split at sentence ends.
With ``overlap``, a chunk cut for size (not at a heading or a page) starts with
the last ``overlap`` characters of the one before, from a word start, so a fact
that straddles the cut is whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ingest.parsing.parse import Element

_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s+")


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    text: str
    page: int | None
    section: str | None


def split_long(text: str, max_chars: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_chars``, at sentence ends where possible."""
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > max_chars:  # one huge "sentence": cut at a space
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


class _Packer:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.only_titles = True
        self.page: int | None = None
        self.section: str | None = None

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts) + max(0, len(self.parts) - 1)

    def flush(self) -> Iterator[ChunkDraft]:
        if self.parts:
            yield ChunkDraft("\n".join(self.parts), self.page, self.section)
        self.parts = []
        self.only_titles = True


def _tail(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of ``text``, from the start of a word."""
    if overlap <= 0 or not text:
        return ""
    tail = text[-overlap:]
    if len(text) > overlap and not text[-overlap - 1].isspace():
        tail = tail.partition(" ")[2]
    return tail.strip()


def chunk_elements(
    elements: Iterable[Element], max_chars: int, *, overlap: int = 0
) -> list[ChunkDraft]:
    packer = _Packer(max_chars)
    out: list[ChunkDraft] = []
    for el in elements:
        if el.page != packer.page and packer.parts:
            out.extend(packer.flush())
        packer.page = el.page
        if el.kind == "title":
            # Consecutive headings stay together ("Handbook" / "Welcome").
            if not packer.only_titles:
                out.extend(packer.flush())
            packer.section = el.text[:200]
            packer.parts.append(el.text[:max_chars])
            continue
        for piece in split_long(el.text, max_chars):
            if packer.parts and packer.size + 1 + len(piece) > max_chars:
                text_before = not packer.only_titles
                out.extend(packer.flush())
                carried = _tail(out[-1].text, overlap) if text_before else ""
                if carried and len(carried) + 1 + len(piece) <= max_chars:
                    packer.parts.append(carried)
            packer.parts.append(piece)
            packer.only_titles = False
    out.extend(packer.flush())
    return out
