"""Compact context: keep only the sentences of the retrieved chunks that bear on the question.

On CPU, reading the prompt is the main cost before the first token, and small
models answer better from a few exact sentences than from whole chunks. Each
kept sentence stays in its chunk, so ``[n]`` still names the passage it came
from, and the quote a user sees is exactly what the model read.

The question's vector is already at hand from retrieval; the sentences are
embedded here, in one batch, and only when the chunks do not fit the budget
whole (a few dozen short sentences: a fraction of a second with the int8
embedder, against the seconds llama.cpp would spend reading the tokens saved).
docs/EVAL.md compares answers from this context with answers from whole chunks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from assistant.domain import RetrievedChunk
from assistant.models.embed import Embedder
from assistant.text.language import detect
from assistant.text.sentences import split_sentences

#: About four characters per token for English text with these tokenizers.
CHARS_PER_TOKEN = 4


def sentences(text: str) -> list[str]:
    return [s.strip() for s in split_sentences(text)]


Space = tuple[np.ndarray, Embedder]


def context_space(
    language: str, hits: Sequence[RetrievedChunk], english: Space, multilingual: Space | None
) -> Space:
    """The (question vector, embedder) the context's sentences are chosen with: the
    English embedder's, unless the question or a passage is in another language and the
    multilingual index is on. MiniLM reads English only: on Arabic its similarity is
    noise, and the sentence that answers would be cut for one that does not."""
    other = language != "en" or any(detect(hit.chunk.text) != "en" for hit in hits)
    return multilingual if multilingual is not None and other else english


def compact(
    query_vector: np.ndarray,
    hits: Sequence[RetrievedChunk],
    embedder: Embedder,
    *,
    budget_tokens: int,
    margin: float = 0.2,
) -> list[RetrievedChunk]:
    """Pick the sentences most similar to the question, within ``budget_tokens``.

    When the chunks fit the budget whole they are returned as they are: no
    sentence is embedded, and the model sees every word. Otherwise a sentence
    is kept when it is within ``margin`` of the best sentence's similarity and
    fits the budget; the best sentence is always kept (cut at a word boundary
    if it alone is longer than the budget). What budget is left goes to the
    sentence following each kept one, best first. Kept sentences are returned in
    their original order, grouped by chunk, and chunks left with none are
    dropped.
    """
    if not hits:
        return []
    budget = budget_tokens * CHARS_PER_TOKEN
    if sum(len(hit.chunk.text) + 1 for hit in hits) <= budget:
        return list(hits)
    pieces: list[tuple[int, int, str]] = []  # (hit index, position, sentence)
    for h, hit in enumerate(hits):
        section = hit.chunk.section
        for i, s in enumerate(sentences(hit.chunk.text)):
            if s != section:  # the heading is shown in the source label already
                pieces.append((h, i, s))
    if not pieces:
        return list(hits)
    vecs = embedder.embed([f"{hits[h].chunk.section or ''}: {s}" for h, _, s in pieces])
    scores = vecs @ query_vector.astype(np.float32)
    order = np.argsort(-scores)
    best = float(scores[order[0]])
    top = int(order[0])
    h0, i0, first = pieces[top]
    if len(first) > budget:  # one huge "sentence" (a table, a code block): cut it to fit
        pieces[top] = (h0, i0, first[:budget].rsplit(" ", 1)[0] or first[:budget])
    chosen: set[int] = set()
    used = 0
    for rank, j in enumerate(order):
        text = pieces[j][2]
        if rank > 0 and (float(scores[j]) < best - margin or used + len(text) > budget):
            continue
        chosen.add(int(j))
        used += len(text) + 1
    # Then the sentence after each kept one, best first, while the budget lasts: manuals
    # state a thing, then its default or its condition ("... The default is one second.").
    position = {(h, i): n for n, (h, i, _) in enumerate(pieces)}
    for j in [int(j) for j in order if int(j) in chosen]:
        h, i, _ = pieces[j]
        nxt = position.get((h, i + 1))
        if nxt is not None and nxt not in chosen and used + len(pieces[nxt][2]) <= budget:
            chosen.add(nxt)
            used += len(pieces[nxt][2]) + 1
    out: list[RetrievedChunk] = []
    for h, hit in enumerate(hits):
        kept = [pieces[j][2] for j in sorted(chosen) if pieces[j][0] == h]
        if kept:
            chunk = dataclasses.replace(hit.chunk, text=" ".join(kept))
            out.append(dataclasses.replace(hit, chunk=chunk))
    return out
