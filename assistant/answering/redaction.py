"""Personal data masked in what a user is shown from a collection set to redact it.

A collection with ``redact_pii`` (``assistant collections set … --redact-pii``) may hold
referral letters or HR files whose passages carry national IDs, phone numbers, IBANs.
When any passage given for a question comes from such a collection, the user is shown
the sources' quotes and the answer with each item masked (assistant/text/pii.py:
"[NATIONAL_ID]"). The model still reads the passages as they are, and the grounding check
compares its answer with them as they are: masking is for the reader, after the check.
The answer is not streamed token by token then -- a number cut across two tokens could
not be recognised in either -- but sent whole, masked, when it is done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from assistant.answering.events import Event, TokenEvent
from assistant.domain import Answer, Citation, RetrievedChunk
from assistant.text.pii import Redactor

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Redaction:
    """``redactor``, applied to answers from the collections ``applies`` says redact."""

    redactor: Redactor
    applies: Callable[[Iterable[str]], bool]

    def covers(self, hits: Sequence[RetrievedChunk]) -> bool:
        return self.applies({hit.document.collection for hit in hits})

    def citation(self, c: Citation) -> Citation:
        mask = self.redactor.redact
        evidence = mask(c.evidence) if c.evidence is not None else None
        return dataclasses.replace(c, quote=mask(c.quote), evidence=evidence)

    def sources(self, sources: Sequence[Citation]) -> list[Citation]:
        return [self.citation(c) for c in sources]

    def answer(self, answer: Answer) -> Answer:
        return dataclasses.replace(
            answer,
            answer=self.redactor.redact(answer.answer),
            citations=self.sources(answer.citations),
            sources=self.sources(answer.sources),
            withheld=self.redactor.redact(answer.withheld) if answer.withheld else None,
            drafts=[],  # what earlier models wrote is not shown either
        )


def without_tokens(steps: Generator[Event, Any, R]) -> Generator[Event, Any, R]:
    """``steps`` with its token events held back; what it returns is returned."""
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            return stop.value
        if not isinstance(event, TokenEvent):
            yield event
