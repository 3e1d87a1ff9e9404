"""Training pairs: a seeded sample of chunks, and one question per chunk from the chat model.

The questions are written by the same Generator the answering service uses (the GGUF
model in its supervised worker), greedy at the configured temperature, and only ever
train: lift is measured on held-out questions people wrote (docs/EVAL.md), never on
these. A generation that fails, comes back empty, or only copies the passage is skipped
and counted.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.answering.generator import Generator
from assistant.answering.prompt import Message
from assistant.domain import Chunk, Document
from assistant.errors import ModelCrashed
from assistant.store.documents import Store
from ingest.files import embedding_text

PROMPT = (
    "Write one question a user of this document would ask that this passage answers. "
    "Do not copy its wording."
)
#: shorter chunks (a lone heading, a table cell) rarely answer a question
MIN_PASSAGE_CHARS = 80
MAX_TOKENS = 64
MAX_QUESTION_CHARS = 300

#: (chunks done, chunks in all, questions kept so far)
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True)
class Pair:
    """A generated question and the chunk it was written for."""

    vid: int
    chunk_id: str
    doc_id: str
    collection: str
    question: str
    passage: str  # what the embedder sees of the chunk (ingest.files.embedding_text)


@dataclass(slots=True)
class Generated:
    pairs: list[Pair] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def sample_chunks(
    store: Store, n: int, *, seed: int, collection: str | None = None
) -> list[tuple[Chunk, Document]]:
    """``n`` chunks (all, if fewer) of ``collection`` (None: every one), chosen by
    ``seed`` from the chunks in vid order: the same store and seed, the same sample."""
    vids = store.chunk_vids(collection, min_chars=MIN_PASSAGE_CHARS)
    chosen = random.Random(seed).sample(vids, min(n, len(vids)))
    found = store.chunks_for_vids(chosen)
    return [found[v] for v in chosen if v in found]


_LEAD = re.compile(r"^(?:\**\s*)?(?:question\s*\d*\s*[:.)-]|q\s*[:.)-]|\d+\s*[.)-])\s*", re.I)


def clean_question(text: str, passage: str) -> str | None:
    """The question in a reply: its first line, without a "Question:" or number lead,
    quotes or markdown; None unless that is a question of three words or more that does
    not only copy the passage."""
    for line in text.strip().splitlines():
        line = _LEAD.sub("", line.strip()).strip().strip("*_\"'`“”‘’ ").strip()
        if line:
            break
    else:
        return None
    if len(line) > MAX_QUESTION_CHARS or len(line.split()) < 3 or not line.endswith("?"):
        return None  # too long, too short, or not a question ("Here is a revised version:")
    if " ".join(line.lower().split()) in " ".join(passage.lower().split()):
        return None  # copied, not asked
    return line


def generate_questions(
    generator: Generator,
    chunks: Sequence[tuple[Chunk, Document]],
    *,
    max_tokens: int = MAX_TOKENS,
    progress: Progress | None = None,
) -> Generated:
    """One question per chunk, in order; a crash of the model's worker skips that chunk
    (the worker restarts itself), a model refused for good stops the run."""
    out = Generated()
    if progress is not None:
        progress(0, len(chunks), 0)
    for i, (chunk, doc) in enumerate(chunks, start=1):
        passage = embedding_text(chunk)
        messages: list[Message] = [
            {"role": "system", "content": PROMPT},
            {"role": "user", "content": f"Passage:\n{passage}"},
        ]
        try:
            reply = _first_line(generator, messages, max_tokens)
        except ModelCrashed:
            out.skip("failed")
        else:
            question = clean_question(reply, passage)
            if question is None:
                out.skip("empty" if not reply.strip() else "unusable")
            else:
                out.pairs.append(
                    Pair(chunk.vector_id, chunk.id, doc.id, doc.collection, question, passage)
                )
        if progress is not None:
            progress(i, len(chunks), len(out.pairs))
    return out


def _first_line(generator: Generator, messages: list[Message], max_tokens: int) -> str:
    """The reply up to the end of its first non-empty line: the model is stopped there
    (through ``cancel``, as a closed page stops an answer) -- the rest is never used."""
    cancel = threading.Event()
    pieces: list[str] = []
    for piece in generator.stream(messages, max_tokens=max_tokens, cancel=cancel):
        pieces.append(piece)
        if "\n" in "".join(pieces).strip():
            cancel.set()
    return "".join(pieces)
