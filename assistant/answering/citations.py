"""Map the ``[n]`` markers of an answer to the sources the model was actually given.

A marker naming a source that was not given is removed from the text, so
every citation a user sees resolves to a real passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from assistant.answering.prompt import REFUSALS
from assistant.domain import Citation, RetrievedChunk
from assistant.text.arabic import normalize_arabic
from assistant.text.sentences import split_sentences

_MARKER = re.compile(r"\s*\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
# "… [1]. [1]" -> "… [1]."  (a marker repeated after the sentence's end)
_REPEATED = re.compile(r"((?:\[\d+\])+)([.!?]?)\s*\1(?!\w)")
_REFUSAL_HINTS = tuple(
    normalize_arabic(hint)  # compared with text spelled the same way (_refusal_form)
    for hint in (
        "can't find this",
        "cannot find this",
        "can not find this",
        "can't find the answer",
        "لا أجد هذا",
        "لم أجد هذا",
        "لا يمكنني العثور على",
        "لم أتمكن من العثور على",
        "لا أستطيع العثور على",
    )
)
#: End punctuation a refusal may carry, Arabic's own among it.
_END = "\"'. \u061f\u06d4!?،"


def as_sources(hits: Sequence[RetrievedChunk]) -> list[Citation]:
    """The numbered sources, in prompt order: [1] is ``hits[0]``."""
    return [
        Citation(
            n=n,
            chunk_id=hit.chunk.id,
            document=hit.document.title or Path(hit.document.path).name,
            path=hit.document.path,
            page=hit.chunk.page,
            section=hit.chunk.section,
            quote=hit.chunk.text,
            score=round(hit.score, 4),
        )
        for n, hit in enumerate(hits, start=1)
    ]


def resolve(text: str, sources: Sequence[Citation]) -> tuple[str, list[Citation]]:
    """Return the answer with invalid markers removed, and the cited sources in order of use."""
    by_n = {s.n: s for s in sources}
    cited: dict[int, Citation] = {}

    def keep(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"[,;]", match.group(1))]
        valid = [n for n in dict.fromkeys(numbers) if n in by_n]
        for n in valid:
            cited.setdefault(n, by_n[n])
        if not valid:
            return ""
        lead = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        return lead + "".join(f"[{n}]" for n in valid)

    cleaned = _REPEATED.sub(r"\1\2", _MARKER.sub(keep, text)).strip()
    return cleaned, list(cited.values())


_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    (
        "a an the of to in on at by for from with and or is are was were be been it its this that "
        "these those as you your we our they their i he she his her not no do does can may must "
        "will shall per"
    ).split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased words other than stopwords: what two texts share when they say the same."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def attribute(text: str, sources: Sequence[Citation], *, min_overlap: float = 0.5) -> str:
    """Add ``[n]`` to answer sentences that carry none, when one source clearly backs them.

    Small models often state the right fact without the marker. A sentence is
    attributed to the source sharing the largest share of its content words,
    if that share is at least ``min_overlap``; otherwise it is left uncited.
    """
    if not sources:
        return text
    words = [(s.n, content_words(s.quote)) for s in sources]
    out: list[str] = []
    for sentence in split_sentences(text):
        if not sentence.strip() or _MARKER.search(sentence):
            out.append(sentence)
            continue
        own = content_words(sentence)
        best_n, best = 0, 0.0
        for n, src in words:
            share = len(own & src) / len(own) if own else 0.0
            if share > best:
                best_n, best = n, share
        if best >= min_overlap:
            stripped = sentence.rstrip()
            end = stripped[-1] if stripped[-1:] in ".!?" else ""
            body = stripped[: len(stripped) - len(end)] if end else stripped
            sentence = f"{body} [{best_n}]{end}"
        out.append(sentence)
    return " ".join(out)


def _refusal_form(text: str) -> str:
    """Lower-cased, Arabic-normalised, one space between words, no end punctuation."""
    return " ".join(normalize_arabic(text.lower().replace("’", "'")).split()).strip(_END)


_REFUSAL_FORMS = frozenset(_refusal_form(r) for r in REFUSALS.values())


def is_refusal(text: str) -> bool:
    """The model's way of saying its passages do not answer: empty, a refusal sentence
    of any language (``prompt.REFUSALS``), or a close paraphrase of one."""
    norm = _refusal_form(text)
    return not norm or norm in _REFUSAL_FORMS or any(h in norm for h in _REFUSAL_HINTS)
