"""Builders for the records the rest of the app writes: questions, ingests,
erasures and the settings at start-up.

Each splits its facts into what may be kept for good (ids, hashes, versions,
flags, timings) and what is personal (question, answer, the passages shown,
file paths) and so goes to the erasable payload store. Each kind's entry in
``kinds.REGISTRY`` names its builder; a new kind starts there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from assistant import __version__
from assistant.answering.prompt import PROMPT_VERSION
from assistant.audit.log import AuditLog
from assistant.audit.receipts import document_subject, record_erasure, sync_erasure_receipts
from assistant.audit.records import AuditRecord, EventKind
from assistant.domain import Answer, RetrievedChunk, sha256_hex, vector_id_for
from assistant.models.cpu import describe_cpu
from assistant.store.documents import Store

__all__ = [
    "document_subject",
    "public_settings",
    "record_answer",
    "record_answer_failure",
    "record_erasure",
    "record_ingest",
    "record_model_event",
    "record_settings",
    "recorder",
    "sync_erasure_receipts",
]

SYSTEM_ACTOR = "system"
_SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|salt|private|api_key", re.I)


def record_answer(
    audit: AuditLog,
    *,
    user: str,
    answer: Answer,
    model_sha256: str | None,
    hits: Sequence[RetrievedChunk] | None = None,
    store: Store | None = None,
    latency_s: float | None = None,
) -> AuditRecord:
    """Record a question and exactly what it was answered from.

    Per source: the chunk id (which hashes document, position and stored text),
    the SHA-256 of the text *as given to the model* (context compaction may cut
    it), and the document id -- the SHA-256 of the file, i.e. its version.
    Document ids come from ``hits`` (``DoneEvent.hits``) or else from ``store``.
    """
    docs: dict[str, tuple[str, str]] = {}
    if hits is not None:
        docs = {h.chunk.id: (h.document.id, h.document.collection) for h in hits}
    elif store is not None and answer.sources:
        found = store.chunks_for_vids([vector_id_for(s.chunk_id) for s in answer.sources])
        docs = {chunk.id: (doc.id, doc.collection) for chunk, doc in found.values()}
    cited = {c.n for c in answer.citations}
    chunks = []
    for s in answer.sources:
        doc_id, collection = docs.get(s.chunk_id, (None, None))
        chunks.append(
            {
                "n": s.n,
                "chunk_id": s.chunk_id,
                "text_sha256": sha256_hex(s.quote),
                "doc_id": doc_id,
                "collection": collection,
                "score": s.score,
                "cited": s.n in cited,
            }
        )
    if latency_s is None:
        latency_s = answer.timings.get("total_s")
    data = {
        "conversation_id": answer.conversation_id,
        "chunks": chunks,
        "model": answer.model,  # None: refused by the gates, before any model
        "model_sha256": model_sha256,
        "prompt_version": PROMPT_VERSION,
        "refused": answer.refused,
        "latency_ms": round(latency_s * 1000) if latency_s is not None else None,
        "evidence": answer.evidence,  # "chunk_id:sentence": the spans that back the answer
    }
    if answer.replica is not None:  # which copy of the model answered (models/replicas.py)
        data["replica"] = answer.replica
    if answer.withheld is not None:  # the check found a fact no passage holds
        data["withheld"] = True
    if answer.trimmed is not None:  # shown without its tail, which stated such facts
        data["trimmed"] = True
    # a smaller model answered first and was replaced (answering/router.py)
    if others := [d for d in answer.drafts if d.model != answer.model]:
        data["escalated_from"] = others[-1].model
        data["escalation"] = others[-1].outcome  # "refused" or "withheld"
    if any(d.model == answer.model for d in answer.drafts):  # asked again once withheld
        data["regenerated"] = True
    personal = {
        "question": answer.question,
        "answer": answer.answer,
        "passages": [
            {
                "n": s.n,
                "chunk_id": s.chunk_id,
                "document": s.document,
                "path": s.path,
                "page": s.page,
                "section": s.section,
                "text": s.quote,
            }
            for s in answer.sources
        ],
    }
    if answer.withheld is not None:  # what the model wrote
        personal["withheld_answer"] = answer.withheld
    if answer.trimmed is not None:  # the tail cut from the answer shown
        personal["trimmed"] = answer.trimmed
    if answer.withheld is not None or answer.trimmed is not None:  # the facts no passage held
        personal["unsupported"] = answer.unsupported
    if answer.drafts:  # what the reader was shown before the next model took over
        personal["drafts"] = [
            {"model": d.model, "outcome": d.outcome, "text": d.text} for d in answer.drafts
        ]
    return audit.record(EventKind.QUESTION, user, data, personal, subject=user)


def record_ingest(
    audit: AuditLog,
    *,
    actor: str,
    doc_id: str,
    collection: str,
    path: str | None = None,
    label: str | None = None,
    chunks: int | None = None,
    replaces: str | None = None,
) -> AuditRecord:
    """An added document, or (with ``replaces``: the old version's id) a re-ingest.

    ``doc_id`` is the SHA-256 of the file's bytes. The path may name a person
    ("smith_referral.pdf"), so it is filed under the document in the payload store.
    """
    kind = EventKind.REINGEST if replaces else EventKind.INGEST
    data = {
        "doc_id": doc_id,
        "collection": collection,
        "label": label,
        "chunks": chunks,
        "replaces": replaces,
    }
    personal = {"path": path} if path else None
    return audit.record(kind, actor, data, personal, subject=document_subject(doc_id))


def public_settings(settings: BaseModel) -> dict[str, Any]:
    """Every setting except secrets (by type, or by a name like ``*_token``)."""
    out: dict[str, Any] = {}
    dumped = settings.model_dump(mode="json")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if _SECRET_NAME.search(name) or isinstance(value, SecretStr | SecretBytes):
            out[name] = "<redacted>"
        else:
            out[name] = dumped.get(name)
    return out


PERSONAL_KEYS = ("address", "ip", "user_agent", "email")


def recorder(
    audit: AuditLog, personal_keys: Sequence[str] = PERSONAL_KEYS
) -> Callable[[str, str, Mapping[str, Any]], AuditRecord]:
    """A ``record(kind, actor, data)`` callable for other components (sign-in, ACLs) that
    moves personal fields -- an IP address is personal data -- into the erasable payload."""

    def record(kind: str, actor: str, data: Mapping[str, Any]) -> AuditRecord:
        kept = {k: v for k, v in data.items() if k not in personal_keys}
        personal = {k: v for k, v in data.items() if k in personal_keys}
        return audit.record(kind, actor, kept, personal or None)

    return record


def record_model_event(audit: AuditLog, phase: str, data: Mapping[str, Any]) -> AuditRecord:
    """The model's worker process: ``started`` (with the CPU mode its probe chose),
    ``probe_failed``, ``crashed``, ``fallback`` (to a slower CPU mode) or ``failed``."""
    return audit.record(EventKind.MODEL_WORKER, SYSTEM_ACTOR, {"phase": phase, **data})


def record_answer_failure(
    audit: AuditLog,
    *,
    user: str,
    question: str,
    conversation_id: str,
    error: str,
    detail: str,
    model_sha256: str | None,
    model: str | None = None,
) -> AuditRecord:
    """A question that ended in an error (``model`` crashed, timed out, was refused)."""
    data = {
        "conversation_id": conversation_id,
        "error": error,
        "detail": detail,
        "model": model,
        "model_sha256": model_sha256,
    }
    return audit.record(EventKind.ANSWER_FAILED, user, data, {"question": question}, subject=user)


def record_settings(
    audit: AuditLog, settings: BaseModel, *, actor: str = SYSTEM_ACTOR
) -> AuditRecord:
    """The configuration in force when a process starts, secrets left out, and the CPU
    it runs on (the model's CPU mode follows in its own ``model_worker`` record)."""
    data = {
        "version": __version__,
        "settings": public_settings(settings),
        "cpu": describe_cpu(),
    }
    return audit.record(EventKind.SETTINGS_AT_STARTUP, actor, data)
