"""Answer feedback from the chat: thumbs up or down, and a comment, on one's own answer.

Thin: the rules (only one's own answers, the rating's values, the comment's length, what
is kept for good and what is erasable) are assistant/audit/feedback.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, post

from assistant.audit.feedback import FeedbackBook
from assistant.auth.principal import Principal


@dataclass
class FeedbackRequest:
    record: int  # the answer's audit record (``record`` in the answer's JSON)
    rating: str  # "up" or "down"
    comment: str | None = None


class FeedbackController(Controller):
    path = "/api/feedback"
    tags = ["feedback"]

    @post("/", status_code=201, sync_to_thread=True, summary="Rate one of your answers")
    def give(
        self, data: FeedbackRequest, feedback: FeedbackBook, principal: Principal
    ) -> dict[str, Any]:
        seq = feedback.give(principal.user, data.record, data.rating, data.comment)
        return {"feedback": seq, "record": data.record, "rating": data.rating}
