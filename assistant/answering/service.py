"""The answering service: rewrite follow-ups, retrieve, gate, prompt, queue, generate, cite.

``stream`` yields events in the order the page shows them -- the sources
first, the queue position while waiting for the model, the answer's text as
it is generated, then the final answer with its resolved citations.
``answer`` is the same pipeline, collected.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from assistant.answering.citations import as_sources, attribute, is_refusal, resolve
from assistant.answering.conversations import Conversations, Turn, standalone_question
from assistant.answering.generator import Generator
from assistant.answering.grounding import check
from assistant.answering.guard import leaks_prompt, strip_injections
from assistant.answering.prompt import REFUSAL, SYSTEM_PROMPT, build_messages
from assistant.answering.queue import ModelQueue, QueueTimeout, Ticket
from assistant.domain import Answer, Citation, RetrievedChunk
from assistant.errors import AssistantError, InvalidQuestion
from assistant.retrieval.context import compact
from assistant.retrieval.retriever import Retriever

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SourcesEvent:
    sources: list[Citation]
    kind: Literal["sources"] = "sources"


@dataclass(frozen=True, slots=True)
class QueueEvent:
    position: int
    kind: Literal["queue"] = "queue"


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str
    kind: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class DoneEvent:
    answer: Answer
    hits: list[RetrievedChunk]
    standalone: str = ""
    kind: Literal["done"] = "done"


Event = SourcesEvent | QueueEvent | TokenEvent | DoneEvent
Observer = Callable[[str, DoneEvent], None]


class AnswerAudit(Protocol):
    """Where every question is recorded, whichever door it came in by (page, API, OpenAI,
    CLI): the audit log (assistant/audit/answers.py)."""

    def answered(self, user: str, done: DoneEvent) -> None:
        """A final answer, refusals included, and exactly what it was answered from."""

    def failed(self, user: str, question: str, conversation_id: str, error: AssistantError) -> None:
        """A question that ended in an error: the model crashed, timed out or is refused."""


class NoAudit:
    """Records nothing: for a service built outside the app (a benchmark, a test)."""

    def answered(self, user: str, done: DoneEvent) -> None:
        return None

    def failed(self, user: str, question: str, conversation_id: str, error: AssistantError) -> None:
        return None


class AnswerService:
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
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens
        self.queue = queue or ModelQueue()
        self.conversations = conversations or Conversations()
        self.timeout_s = timeout_s
        self.audit: AnswerAudit = audit or NoAudit()
        self.observers = observers or []  # told of every final answer after the audit: metrics
        self.system_prompt = system_prompt
        self.verify_grounding = verify_grounding  # withhold answers their passages do not back

    def enter_queue(self) -> Ticket:
        """A place in the model's queue, for ``stream(ticket=...)``; raises ``QueueFull``
        (a 503) at once when the queue is full, before any streaming starts."""
        return self.queue.enter()

    def warm_up(self) -> None:
        """Load the model and read the system prompt once: later answers reuse its KV cache."""
        for _ in self.generator.stream(
            build_messages("warm-up", [], self.system_prompt), max_tokens=1
        ):
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
        """Answer ``question``. Pass a ``ticket`` taken with ``enter_queue()`` to learn of a
        full queue before streaming starts; otherwise one is taken here. ``history``, when
        given (the OpenAI endpoint sends it), replaces the stored conversation's turns.
        ``collections`` are the ones ``user`` may read (None: all); nothing from any other
        collection reaches the prompt, the sources or a conversation."""
        question = validate_question(question)
        cid = conversation_id or Conversations.new_id()
        key = f"{user}\x00{cid}"  # one user can never continue another's conversation
        if history is None:
            history = self.conversations.history(key)
        ticket = ticket or self.enter_queue()
        with ticket:
            try:
                for event in self._stream(question, cid, cancel, ticket, history, collections):
                    if isinstance(event, DoneEvent):
                        self.conversations.add(
                            key, Turn(question, event.standalone, event.answer.answer)
                        )
                        self.audit.answered(user, event)
                        for observe in self.observers:
                            observe(user, event)
                    yield event
            except AssistantError as exc:  # the model crashed, timed out or is refused
                self.audit.failed(user, question, cid, exc)
                raise

    def _stream(
        self,
        question: str,
        cid: str,
        cancel: threading.Event | None,
        ticket: Ticket,
        history: list[Turn],
        collections: frozenset[str] | None,
    ) -> Iterator[Event]:
        t0 = time.perf_counter()
        standalone = standalone_question(question, history)
        query = self.retriever.embed_query(standalone)
        timings = {"embed_s": time.perf_counter() - t0}
        hits = self.retriever.retrieve(standalone, query_vector=query, collections=collections)
        timings["retrieve_s"] = time.perf_counter() - t0 - timings["embed_s"]
        if hits and self.context_tokens:
            hits = compact(query, hits, self.retriever.embedder, budget_tokens=self.context_tokens)
        timings["context_s"] = time.perf_counter() - t0 - sum(timings.values())
        hits = strip_injections(hits)  # documents are data: instruction-like sentences go
        sources = as_sources(hits)
        yield SourcesEvent(sources)

        def done(text: str, refused: bool, cited: list[Citation], **more: Any) -> DoneEvent:
            timings["total_s"] = time.perf_counter() - t0
            answer = Answer(question, text, refused, cited, sources, cid, timings, **more)
            return DoneEvent(answer, hits, standalone)

        if not hits:  # nothing relevant: refuse without spending the model's time
            ticket.release()
            yield TokenEvent(REFUSAL)
            yield done(REFUSAL, True, [])
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

        deadline = time.monotonic() + self.timeout_s
        pieces: list[str] = []
        t1 = time.perf_counter()
        messages = build_messages(standalone, hits, self.system_prompt)
        for piece in self.generator.stream(messages, max_tokens=self.max_tokens, cancel=cancel):
            if not pieces:
                timings["first_token_s"] = time.perf_counter() - t0
                usage = getattr(self.generator, "last_prompt", None)  # llama.cpp only
                if usage is not None:
                    timings["prompt_tokens"], timings["prompt_reused"] = map(float, usage)
            pieces.append(piece)
            yield TokenEvent(piece)
            if time.monotonic() > deadline:
                raise QueueTimeout(f"the answer took longer than {self.timeout_s:.0f} s")
        ticket.release()  # the model is free for the next in line
        timings["generate_s"] = time.perf_counter() - t1
        timings["tokens"] = float(len(pieces))
        text, cited = resolve(attribute("".join(pieces), sources), sources)
        if is_refusal(text) or leaks_prompt(text):  # never hand out the system prompt
            yield done(REFUSAL, True, [])
            return
        if not self.verify_grounding:
            yield done(text, False, cited)
            return
        grounding = check(text, sources, question=standalone)  # answering/grounding.py
        if not grounding.supported:  # a fact its passages do not hold: withheld
            yield done(REFUSAL, True, [], withheld=text, unsupported=grounding.unsupported)
            return
        cited = [dataclasses.replace(c, evidence=grounding.evidence.get(c.n)) for c in cited]
        yield done(text, False, cited, evidence=grounding.spans)

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
