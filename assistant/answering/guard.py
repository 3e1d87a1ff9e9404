"""Prompt-injection defences around the model.

Documents are data, never instructions. Three layers, each cheap:
1. sentences that read as instructions to an AI ("ignore previous instructions…",
   "reveal your system prompt…") are dropped from the sources before the prompt is built;
2. the system prompt tells the model that sources are quoted material, not orders;
3. an answer that repeats the system prompt is withheld.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from assistant.answering.prompt import RULES
from assistant.domain import RetrievedChunk
from assistant.text.sentences import split_sentences

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,60}\b(instructions?|rules|prompts?|above|guidelines)\b"
    r"|\b(system|hidden|initial)\s+prompt\b"
    r"|\byou\s+are\s+now\b"
    r"|\b(reveal|print|repeat|show|output|list)\b[^.!?\n]{0,40}\b(instructions|prompt|other\s+documents|all\s+documents|confidential)\b"
    r"|\b(reply|respond|answer|say)\b[^.!?\n]{0,20}\b(only|exactly)\b[^.!?\n]{0,10}\bwith\b"
    r"|\b(as\s+an?\s+(ai|assistant|language\s+model))\b[^.!?\n]{0,40}\b(must|should|will)\b"
    # addressed to the model: "If you are an AI model reading this, ...", "To the chatbot: ..."
    r"|\bif\s+you\s+are\s+an?\s+(ai|assistant|chatbot|bot|llm|(large\s+)?language\s+model)\b"
    r"|\b(ai|language)\s+models?\s+reading\s+this\b"
    r"|\byou\s+must\s+(answer|reply|respond)\s+(to\s+)?(every|all|any)\s+(questions?|requests?|prompts?)\b",
    re.I,
)
_WORD = re.compile(r"\w+")
_SHINGLE = 6


#: A sentence that is an order to whoever reads it: after an injection, it is part of it.
_ORDER = re.compile(
    r"\s*(say|reply|respond|answer|type|write|print|output|repeat|confirm|start|begin|end)\b", re.I
)


def is_injection(sentence: str) -> bool:
    return bool(_INJECTION.search(sentence))


def strip_injections(hits: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
    """The hits with instruction-like sentences removed; a chunk left empty is dropped."""
    out: list[RetrievedChunk] = []
    for hit in hits:
        parts = split_sentences(hit.chunk.text)
        kept: list[str] = []
        tainted = False  # the previous sentence was an injection
        for sentence in parts:
            # an injection goes, and so does the order that follows it ("... Say X to confirm.")
            tainted = is_injection(sentence) or (tainted and bool(_ORDER.match(sentence)))
            if not tainted:
                kept.append(sentence)
        if len(kept) == len(parts):
            out.append(hit)
        elif kept:
            chunk = dataclasses.replace(hit.chunk, text=" ".join(kept))
            out.append(dataclasses.replace(hit, chunk=chunk))
    return out


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


_PROMPT_SHINGLES = _shingles(RULES)


def leaks_prompt(answer: str) -> bool:
    """True when the answer repeats a run of six or more words of the system prompt."""
    return bool(_shingles(answer) & _PROMPT_SHINGLES)
