"""The answering service: retrieve, gate, prompt, generate, cite.

``stream`` yields events in the order the page shows them -- the sources
first, then the answer's text as it is generated, then the final answer with
its resolved citations. ``answer`` is the same pipeline, collected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from assistant.answering.citations import as_sources, attribute, is_refusal, resolve
from assistant.answering.generator import Generator
from assistant.answering.prompt import REFUSAL, build_messages
from assistant.domain import Answer, Citation
from assistant.errors import InvalidQuestion
from assistant.retrieval.context import compact
from assistant.retrieval.retriever import Retriever

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SourcesEvent:
    sources: list[Citation]
    kind: Literal["sources"] = "sources"


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str
    kind: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class DoneEvent:
    answer: Answer
    kind: Literal["done"] = "done"


Event = SourcesEvent | TokenEvent | DoneEvent


class AnswerService:
    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        max_tokens: int = 256,
        context_tokens: int | None = 350,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens

    def stream(
        self,
        question: str,
        *,
        conversation_id: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        question = validate_question(question)
        t0 = time.perf_counter()
        query = self.retriever.embed_query(question)
        timings = {"embed_s": time.perf_counter() - t0}
        hits = self.retriever.retrieve(question, query_vector=query)
        timings["retrieve_s"] = time.perf_counter() - t0 - timings["embed_s"]
        if hits and self.context_tokens:
            hits = compact(query, hits, self.retriever.embedder, budget_tokens=self.context_tokens)
            timings["context_s"] = (
                time.perf_counter() - t0 - timings["embed_s"] - timings["retrieve_s"]
            )
        sources = as_sources(hits)
        yield SourcesEvent(sources)
        if not hits:  # nothing relevant: refuse without spending the model's time
            yield TokenEvent(REFUSAL)
            yield DoneEvent(Answer(question, REFUSAL, True, [], [], conversation_id, timings))
            return
        pieces: list[str] = []
        t1 = time.perf_counter()
        for piece in self.generator.stream(
            build_messages(question, hits), max_tokens=self.max_tokens, cancel=cancel
        ):
            if not pieces:
                timings["first_token_s"] = time.perf_counter() - t0
            pieces.append(piece)
            yield TokenEvent(piece)
        timings["generate_s"] = time.perf_counter() - t1
        timings["total_s"] = time.perf_counter() - t0
        timings["pieces"] = float(len(pieces))
        text, cited = resolve(attribute("".join(pieces), sources), sources)
        refused = is_refusal(text)
        answer = Answer(
            question=question,
            answer=REFUSAL if refused else text,
            refused=refused,
            citations=[] if refused else cited,
            sources=sources,
            conversation_id=conversation_id,
            timings=timings,
        )
        yield DoneEvent(answer)

    def answer(self, question: str, *, conversation_id: str | None = None) -> Answer:
        for event in self.stream(question, conversation_id=conversation_id):
            if isinstance(event, DoneEvent):
                return event.answer
        raise AssertionError("stream ended without a final answer")  # pragma: no cover


def validate_question(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise InvalidQuestion("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return q
