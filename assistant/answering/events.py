"""What an answer's stream yields, in the order the page shows it.

``SourcesEvent`` first, ``QueueEvent`` positions while waiting for the model,
``TokenEvent`` pieces of the answer as it is generated, a ``RetryEvent`` when a
model's answer is discarded and the next model of the chain answers instead
(assistant/answering/router.py: the tokens before it are to be thrown away),
then ``DoneEvent`` with the final answer and its resolved citations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.domain import Answer, Citation, RetrievedChunk


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
class RetryEvent:
    """The answer streamed so far is discarded: ``model`` answers the same question from
    the same passages, because ``previous`` refused or its answer was ``withheld``."""

    model: str
    previous: str
    reason: str  # "refused" | "withheld"
    kind: Literal["retry"] = "retry"


@dataclass(frozen=True, slots=True)
class DoneEvent:
    answer: Answer
    hits: list[RetrievedChunk]
    standalone: str = ""
    kind: Literal["done"] = "done"


Event = SourcesEvent | QueueEvent | TokenEvent | RetryEvent | DoneEvent
