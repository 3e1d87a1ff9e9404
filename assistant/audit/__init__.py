"""The tamper-evident audit log (issue 5, item 3).

``AuditLog.record(kind, actor, data, personal)`` is all the app needs: the
record joins a SHA-256 hash chain (``chain``), personal texts go to an
erasable store referenced by a salted commitment (``payloads``), and signed
RFC 6962 Merkle checkpoints (``merkle``, ``checkpoint``, ``keys``) make edits,
deletions, reorders, truncation and forgery visible to ``verify``. Helpers for
questions, ingests, erasures and start-up settings are in ``events``; every
kind of event, with its builder, label and collections, is declared in ``kinds``.
"""

from assistant.audit.log import AuditLog, InclusionProof
from assistant.audit.records import KINDS, AuditRecord, EventKind
from assistant.audit.retention import PurgeReport, RetentionPolicy
from assistant.audit.verify import Problem, VerifyReport

__all__ = [
    "KINDS",
    "AuditLog",
    "AuditRecord",
    "EventKind",
    "InclusionProof",
    "Problem",
    "PurgeReport",
    "RetentionPolicy",
    "VerifyReport",
]
