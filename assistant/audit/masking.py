"""Exports of the audit log with personal data masked, record by record: the texts of a
record about a collection set to redact (``collections set --redact-pii``) have every
e-mail address, phone, ID, IBAN, card and record number masked (assistant/text/pii.py).
The log itself keeps them, erasable as ever; only what leaves it is masked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from assistant.audit.export import Mask
from assistant.audit.kinds import collections_of
from assistant.audit.records import AuditRecord
from assistant.text.pii import Redactor


def masker(redacting: Callable[[Iterable[str]], bool], redactor: Redactor) -> Mask:
    """A ``Mask`` for ``AuditLog.export``: ``redacting(collections)`` says which to mask."""

    def texts_of(record: AuditRecord, texts: dict[str, Any]) -> dict[str, Any]:
        if not redacting(collections_of(record.kind, record.data)):
            return texts
        return dict(redactor.redact_all(texts))

    return texts_of
