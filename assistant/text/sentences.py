"""Sentence splitting shared by context selection, the injection guard and citations.

A plain "full stop then space" rule cuts "William K. Howard" and "Dr. Smith" in
two; the answer then gets a citation marker in the middle of a name ("William K
[1]. Howard"), and a cut name no longer matches its source. So a full stop after
a single capital letter (an initial) or a common abbreviation does not end a
sentence. A line break always does.
"""

from __future__ import annotations

import re

#: A candidate boundary: sentence punctuation (Latin, Arabic, CJK) then space, or a line break.
_BOUNDARY = re.compile(r"(?<=[.!?؟。])\s+|\n+")
#: The last word before a full stop: an initial ("K."), an abbreviation ("Dr.", "e.g.", "U.S.").
_LAST_WORD = re.compile(r"(?:^|[\s(\"'])((?:[A-Za-z]\.)*[A-Za-z]+)\.$")
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs etc eg ie fig figs inc ltd co corp dept "
    "approx cf al gen col lt sgt rev vol ed eds op pp ca jan feb mar apr jun jul aug sep sept "
    "oct nov dec".split()
)


def _continues(piece: str) -> bool:
    """True when ``piece`` ends in a full stop that belongs to an initial or an abbreviation."""
    match = _LAST_WORD.search(piece)
    if match is None:
        return False
    word = match.group(1)
    if len(word) == 1 and word.isupper():  # an initial: "William K."
        return True
    if "." in word:  # "U.S.", "e.g."
        return True
    return word.lower() in ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each with its own end punctuation, blank pieces dropped.

    Pieces keep their inner whitespace; callers strip them if they need to.
    """
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start : match.start()]
        if "\n" not in match.group(0) and _continues(piece):
            continue
        out.append(piece)
        start = match.end()
    out.append(text[start:])
    return [p for p in out if p.strip()]


#: A finished sentence: its end punctuation, then any citation markers after it.
_FINISHED = re.compile(r"[.!?؟。][\"'”’)]*(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s*$")


def finished_part(text: str) -> str:
    """``text`` without its last sentence when that one was cut off (an answer that ran
    into the token cap ends mid-word, "... 23 June 1894 – 28 May 19"); the whole text when
    it ends a sentence or is one unfinished sentence."""
    pieces = split_sentences(text)
    if len(pieces) < 2 or _FINISHED.search(pieces[-1]):
        return text
    end = text.rfind(pieces[-1])
    return text[:end].rstrip()
