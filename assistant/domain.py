"""Shared domain types. Ids are content hashes (hex SHA-256)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def chunk_id_for(doc_id: str, ordinal: int, text: str) -> str:
    """A chunk's id: the hash of its document, position and text."""
    return sha256_hex(f"{doc_id}\x00{ordinal}\x00{text}")


def vector_id_for(chunk_id: str) -> int:
    """The FAISS integer id of a chunk: its id's first 63 bits, stable across runs."""
    return int(chunk_id[:16], 16) & 0x7FFF_FFFF_FFFF_FFFF


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Document:
    """A source file as ingested. ``id`` is the SHA-256 of its bytes."""

    id: str
    path: str
    title: str
    collection: str
    mime_type: str
    size: int
    ingested_at: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document, with where it came from."""

    id: str
    doc_id: str
    ordinal: int
    text: str
    page: int | None = None
    section: str | None = None

    @property
    def vector_id(self) -> int:
        return vector_id_for(self.id)


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """A chunk returned by retrieval, joined with its document."""

    chunk: Chunk
    document: Document
    score: float


@dataclass(frozen=True, slots=True)
class Citation:
    """What an ``[n]`` in an answer points to."""

    n: int
    chunk_id: str
    document: str
    path: str
    page: int | None
    section: str | None
    quote: str
    score: float
    evidence: str | None = None  # the sentence of ``quote`` that backs the answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Draft:
    """An answer a model of the chain gave first and the next model replaced
    (assistant/answering/router.py): it refused, or the grounding check withheld it."""

    model: str
    outcome: str  # "refused" | "withheld"
    text: str  # what the model wrote, as streamed to the reader before it was discarded


#: The reason an answer is withheld when it gives no figure to a question asking for one
#: (answering/asked.py): it stands in its ``unsupported`` facts.
NO_FIGURE = "no figure, to a question asking how many or how much"
#: Said of an unsupported figure the passage holds, but of something else than was asked
#: (answering/topic.py): its ``unsupported`` entry is ``"150 (OFF_TOPIC)"``.
OFF_TOPIC = "said of something else than what was asked"
_OFF_TOPIC_SUFFIX = f" ({OFF_TOPIC})"


def off_topic_fact(figure: str) -> str:
    """The ``unsupported`` entry of a figure said of something else: ``"150 (OFF_TOPIC)"``."""
    return figure + _OFF_TOPIC_SUFFIX


def off_topic_figure(fact: str) -> str | None:
    """The figure of an ``off_topic_fact`` entry; None for any other entry."""
    return fact.removesuffix(_OFF_TOPIC_SUFFIX) if fact.endswith(_OFF_TOPIC_SUFFIX) else None


@dataclass(slots=True)
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    sources: list[Citation] = field(default_factory=list)
    conversation_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)  # span ids "chunk_id:sentence"
    #: an answer withheld because a fact in it is not in its passages: its text and those facts
    withheld: str | None = None
    unsupported: list[str] = field(default_factory=list)
    #: the tail cut from a shown answer after its cited, backed lead: it stated facts no
    #: passage holds (``unsupported``); the answer shown is the lead (answering/grounding.py)
    trimmed: str | None = None
    #: the model whose answer (or refusal) this is; None: refused before any model (the gates)
    model: str | None = None
    #: the earlier models' answers this one replaced, in the order they were given
    drafts: list[Draft] = field(default_factory=list)
    #: which copy of the model answered, with REPLICAS > 1 ("local/2"); None: the only one
    replica: str | None = None
    #: the language of the question, which the answer and a refusal are given in: en | ar
    language: str = "en"
    #: the audit record of this answer (its seq), once recorded: feedback names it
    record: int | None = None

    @property
    def tried(self) -> list[str]:
        """The models asked, in order: the drafts' and then the one that answered."""
        return [d.model for d in self.drafts] + ([self.model] if self.model else [])

    @property
    def withheld_reason(self) -> str | None:
        """Why the answer was withheld: ``no_figure`` (what was left of it gave none to a
        question asking for one), ``off_topic`` (each figure it gave is one its passages say
        of something else), ``unsupported`` (a fact its passages do not hold); None when it
        was not."""
        if self.withheld is None:
            return None
        if NO_FIGURE in self.unsupported:
            return "no_figure"
        if self.unsupported and all(off_topic_figure(u) for u in self.unsupported):
            return "off_topic"
        return "unsupported"

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape shared by the API and ``assistant ask --json``."""
        return {
            "answer": self.answer,
            "refused": self.refused,
            "withheld": self.withheld is not None,
            "withheld_reason": self.withheld_reason,
            "trimmed": self.trimmed is not None,
            "model": self.model,
            "tried": self.tried,
            "citations": [c.to_dict() for c in self.citations],
            "conversation_id": self.conversation_id,
            "language": self.language,
            "record": self.record,
        }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One record of who did what. The audit log (a later stage) chains these."""

    kind: str
    actor: str
    at: str
    data: dict[str, Any] = field(default_factory=dict)
