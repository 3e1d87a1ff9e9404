"""The audit log's side of answering: every question, answered or failed, is recorded.

``AnswerAuditor`` is the ``AnswerAudit`` the answering service is given
(assistant/answering/service.py), so every answer -- whichever door it left
by: page, API, OpenAI, CLI -- goes through ``record_answer`` or
``record_answer_failure`` (assistant/audit/events.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.audit.events import record_answer, record_answer_failure
from assistant.audit.log import AuditLog
from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.answering.service import DoneEvent


class AnswerAuditor:
    """Records answers in ``log()`` (opened on the first record), each with the SHA-256 of
    the model that wrote it as ``model_sha256(name)`` tells it (None: a stand-in)."""

    def __init__(
        self, log: Callable[[], AuditLog], model_sha256: Callable[[str | None], str | None]
    ) -> None:
        self.log = log
        self.model_sha256 = model_sha256

    def answered(self, user: str, done: DoneEvent) -> int | None:
        return record_answer(
            self.log(),
            user=user,
            answer=done.answer,
            model_sha256=self.model_sha256(done.answer.model),
            hits=done.hits,
            latency_s=done.answer.timings.get("total_s"),
        ).seq

    def failed(
        self,
        user: str,
        question: str,
        conversation_id: str,
        error: AssistantError,
        model: str | None = None,
    ) -> None:
        record_answer_failure(
            self.log(),
            user=user,
            question=question,
            conversation_id=conversation_id,
            error=error.code,
            detail=error.message,
            model=model,
            model_sha256=self.model_sha256(model),
        )
