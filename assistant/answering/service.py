"""The answering service: rewrite follow-ups, retrieve, gate, prompt, queue, generate, cite.

``stream`` yields events in the order the page shows them (answering/events.py) --
the sources first, the queue position while waiting for the model, the answer's
text as it is generated, then the final answer with its resolved citations.
The answer, a refusal included, is in the language of the question
(assistant/text/language.py). The models answer in a chain (answering/router.py): when
one refuses or is withheld, a ``RetryEvent`` precedes the next one's (or its second) text.
``answer`` is the same pipeline, collected.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from assistant.answering.citations import as_sources
from assistant.answering.conversations import Conversations, Turn, standalone_question
from assistant.answering.events import (
    DoneEvent,
    Event,
    QueueEvent,
    RetryEvent,
    SourcesEvent,
    TokenEvent,
)
from assistant.answering.generator import Generator
from assistant.answering.guard import strip_injections
from assistant.answering.prompt import SYSTEM_PROMPT, build_messages, refusal
from assistant.answering.queue import ModelQueue, QueueTimeout, Ticket
from assistant.answering.redaction import Redaction, without_tokens
from assistant.answering.router import ChainModel, Router
from assistant.domain import Answer, Citation
from assistant.errors import AssistantError, InvalidQuestion
from assistant.retrieval.context import compact, context_space
from assistant.retrieval.retriever import Retriever
from assistant.text.language import detect

__all__ = [
    "AnswerService",
    "DoneEvent",
    "Event",
    "QueueEvent",
    "RetryEvent",
    "SourcesEvent",
    "TokenEvent",
    "validate_question",
]

MAX_QUESTION_CHARS = 2000
Observer = Callable[[str, DoneEvent], None]


class AnswerAudit(Protocol):
    """Where every question is recorded, whichever door it came in by (page, API, OpenAI,
    CLI): the audit log (assistant/audit/answers.py)."""

    def answered(self, user: str, done: DoneEvent) -> int | None:
        """A final answer, refusals included, and exactly what it was answered from; the
        record's seq (None: not recorded), which feedback on the answer names."""

    def failed(
        self,
        user: str,
        question: str,
        conversation_id: str,
        error: AssistantError,
        model: str | None = None,
    ) -> None:
        """A question that ended in an error: ``model`` crashed, timed out or is refused."""


class NoAudit:
    """Records nothing: for a service built outside the app (a benchmark, a test)."""

    def answered(self, user: str, done: DoneEvent) -> int | None:
        return None

    def failed(
        self,
        user: str,
        question: str,
        conversation_id: str,
        error: AssistantError,
        model: str | None = None,
    ) -> None:
        return None


class AnswerService:
    """The pipeline: ``generator`` answers with ``system_prompt``, then ``fallbacks`` in
    turn when the one before is refused or withheld (answering/router.py)."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        max_tokens: int = 256,
        context_tokens: int | None = 350,
        queue: ModelQueue | None = None,
        conversations: Conversations | None = None,
        timeout_s: float = 120.0,
        audit: AnswerAudit | None = None,
        observers: list[Observer] | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        verify_grounding: bool = True,
        regenerate: bool = False,
        keep_lead: bool = True,
        fallbacks: Sequence[ChainModel] = (),
        redaction: Redaction | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.context_tokens = context_tokens
        self.queue = queue or ModelQueue()
        self.conversations = conversations or Conversations()
        self.timeout_s = timeout_s
        self.audit: AnswerAudit = audit or NoAudit()
        self.observers = observers or []  # told of every final answer after the audit: metrics
        self.system_prompt = system_prompt
        self.redaction = redaction  # personal data masked for some collections
        first = ChainModel(generator.name, lambda: generator, system_prompt)
        self.router = Router(
            [first, *fallbacks],
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            verify_grounding=verify_grounding,  # withhold answers their passages do not back
            regenerate=regenerate,  # ...after asking the last model once more
            keep_lead=keep_lead,  # ...or cut the tail after a cited, backed lead
        )

    @property
    def models(self) -> list[str]:
        """The models that may answer, in the order they are asked."""
        return self.router.names

    def enter_queue(self) -> Ticket:
        """A place in the model's queue, for ``stream(ticket=...)``; raises ``QueueFull``
        (a 503) at once when the queue is full, before any streaming starts."""
        return self.queue.enter()

    def warm_up(self, *, every_model: bool = False) -> None:
        """Load the first model and read its system prompt once: later answers reuse its KV
        cache. The models after it load when first needed, or here with ``every_model`` (an
        eval, whose timings should not include a model's start)."""
        for model in self.router.chain if every_model else self.router.chain[:1]:
            messages = build_messages("warm-up", [], model.system_prompt)
            for _ in model.load().stream(messages, max_tokens=1):
                pass

    def stream(
        self,
        question: str,
        *,
        conversation_id: str | None = None,
        cancel: threading.Event | None = None,
        ticket: Ticket | None = None,
        history: list[Turn] | None = None,
        user: str = "anonymous",
        collections: frozenset[str] | None = None,
    ) -> Iterator[Event]:
        """Answer ``question``. A ``ticket`` taken with ``enter_queue()`` learns of a full
        queue before streaming starts (else one is taken here). ``history`` (the OpenAI
        endpoint sends it) replaces the stored conversation's turns. ``collections`` are the
        ones ``user`` may read (None: all): no other reaches the prompt, sources or history."""
        question = validate_question(question)
        cid = conversation_id or Conversations.new_id()
        key = f"{user}\x00{cid}"  # one user can never continue another's conversation
        if history is None:
            history = self.conversations.history(key)
        ticket = ticket or self.enter_queue()
        tried: list[str] = []  # the models asked so far: an error names the last one
        with ticket:
            try:
                for event in self._stream(
                    question, cid, cancel, ticket, history, collections, tried
                ):
                    if isinstance(event, DoneEvent):
                        self.conversations.add(
                            key, Turn(question, event.standalone, event.answer.answer)
                        )
                        event.answer.record = self.audit.answered(user, event)
                        for observe in self.observers:
                            observe(user, event)
                    yield event
            except AssistantError as exc:  # the model crashed, timed out or is refused
                self.audit.failed(user, question, cid, exc, tried[-1] if tried else None)
                raise

    def _stream(
        self,
        question: str,
        cid: str,
        cancel: threading.Event | None,
        ticket: Ticket,
        history: list[Turn],
        collections: frozenset[str] | None,
        tried: list[str],
    ) -> Iterator[Event]:
        t0 = time.perf_counter()
        language = detect(question)  # what the user typed, not the rewritten follow-up
        standalone = standalone_question(question, history)
        query = self.retriever.embed_query(standalone)
        query_ml = self.retriever.embed_multilingual(standalone)  # None: that index is off
        timings = {"embed_s": time.perf_counter() - t0}
        hits = self.retriever.retrieve(
            standalone, query_vector=query, collections=collections, multilingual_vector=query_ml
        )
        timings["retrieve_s"] = time.perf_counter() - t0 - timings["embed_s"]
        if hits and self.context_tokens:
            ml = self.retriever.multilingual_embedder  # Arabic sentences are chosen with it
            both = None if query_ml is None or ml is None else (query_ml, ml)
            vector, embedder = context_space(language, hits, (query, self.retriever.embedder), both)
            hits = compact(vector, hits, embedder, budget_tokens=self.context_tokens)
        timings["context_s"] = time.perf_counter() - t0 - sum(timings.values())
        hits = strip_injections(hits)  # documents are data: instruction-like sentences go
        sources = as_sources(hits)
        mask = self.redaction if self.redaction and self.redaction.covers(hits) else None
        yield SourcesEvent(mask.sources(sources) if mask else sources)  # (redaction.py)

        def done(text: str, refused: bool, cited: list[Citation], **more: Any) -> DoneEvent:
            timings["total_s"] = time.perf_counter() - t0
            answer = Answer(
                question, text, refused, cited, sources, cid, timings, language=language, **more
            )
            return DoneEvent(answer, hits, standalone)

        if not hits:  # nothing relevant: refuse without spending the model's time
            ticket.release()
            yield TokenEvent(refusal(language))
            yield done(refusal(language), True, [])
            return

        wait_until = time.monotonic() + self.timeout_s
        last = 0
        while (position := ticket.poll(wait=0.5, cancel=cancel)) != 0:
            if position < 0:
                return  # cancelled while waiting: the client is gone
            if position != last:
                last = position
                yield QueueEvent(position)
            if time.monotonic() > wait_until:
                raise QueueTimeout(f"waited {self.timeout_s:.0f} s for the model without a turn")
        timings["queue_s"] = time.perf_counter() - t0 - sum(timings.values())

        # the models answer in turn until one is neither refused nor withheld (router.py)
        steps = self.router.answer(
            standalone,
            hits,
            sources,
            t0=t0,
            timings=timings,
            cancel=cancel,
            tried=tried,
            language=language,
        )
        v = yield from (without_tokens(steps) if mask else steps)  # masked: sent whole
        ticket.release()  # the last model asked is done: the next in line may go
        shared = ("evidence", "withheld", "unsupported", "trimmed", "model", "drafts", "replica")
        final = done(v.text, v.refused, v.cited, **{k: getattr(v, k) for k in shared})
        if mask is not None:
            final = dataclasses.replace(final, answer=mask.answer(final.answer))
            yield TokenEvent(final.answer.answer)
        yield final

    def answer(
        self,
        question: str,
        *,
        conversation_id: str | None = None,
        user: str = "anonymous",
        collections: frozenset[str] | None = None,
    ) -> Answer:
        events = self.stream(
            question, conversation_id=conversation_id, user=user, collections=collections
        )
        for event in events:
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
