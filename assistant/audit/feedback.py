"""Answer feedback: a user's thumbs up or down, and an optional comment, on one answer.

Feedback names the answer by its audit record (``Answer.record``, the question record's
seq), and a user may rate only their own answers. It is an audit event of its own kind,
``feedback``: the rating, the question record it is about (seq and hash) and the
collections of its passages are kept for good; the comment and a copy of the question
(for the review list's line) go to the erasable payload store under the user, like the
question itself. Rating again replaces nothing: the log is append-only, and the latest
rating of a user on an answer is the one that counts (``latest``).

Admins see feedback on the review pages, each with the question, the answer and the
passages of the record it names (assistant/server/review_pages.py).
``assistant feedback export`` turns it into an eval set (``rows``): an answer marked
right becomes a question whose gold is the documents it cited; an answer marked wrong
becomes a question for a reviewer to complete (no gold yet: as written, the product
should have refused it), with the answer given and the comment beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from assistant.audit.export import Mask
from assistant.audit.filters import ExportFilter
from assistant.audit.kinds import EventKind
from assistant.audit.log import AuditLog
from assistant.audit.records import AuditRecord
from assistant.audit.search import Row, one
from assistant.errors import InvalidFeedback, NotFound

Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Feedback:
    """One rating as the review pages and the export read it."""

    seq: int
    ts: str
    user: str
    rating: Rating
    question_seq: int
    comment: str | None
    question: Row | None  # the record rated, with its texts while they are kept


def record_feedback(
    audit: AuditLog, *, user: str, question: AuditRecord, rating: Rating, personal: dict[str, Any]
) -> AuditRecord:
    data = {
        "question_seq": question.seq,
        "question_hash": question.hash,
        "rating": rating,
        "chunks": [  # the collections of the rated answer's passages, for the review filter
            {"collection": c["collection"]}
            for c in question.data.get("chunks") or []
            if isinstance(c, dict) and c.get("collection")
        ],
    }
    return audit.record(EventKind.FEEDBACK, user, data, personal or None, subject=user)


class FeedbackBook:
    """Gives and reads feedback in ``log()`` (the audit log, opened on first use)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def give(self, user: str, seq: int, rating: str, comment: str | None = None) -> int:
        """Record ``user``'s ``rating`` of the answer recorded at ``seq``; its record's seq.
        NotFound when there is no such answer or it is not ``user``'s."""
        if rating not in RATINGS:
            raise InvalidFeedback(f"the rating must be one of {', '.join(RATINGS)}")
        comment = (comment or "").strip() or None
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise InvalidFeedback(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
        row = one(self.log, seq)
        record = row.record if row is not None else None
        if record is None or record.kind != EventKind.QUESTION or record.actor != user:
            raise NotFound(f"no answer {seq} of yours to rate")  # another's: not even there
        personal: dict[str, Any] = {}
        if comment is not None:
            personal["comment"] = comment
        if row is not None and row.personal and isinstance(row.personal.get("question"), str):
            personal["question"] = row.personal["question"]
        given = record_feedback(
            self.log,
            user=user,
            question=record,
            rating=rating,  # checked above
            personal=personal,
        )
        return given.seq

    def entries(self, *, rating: str | None = None, limit: int | None = None) -> list[Feedback]:
        """Every feedback given, newest first, each with the record it rates."""
        found: list[Feedback] = []
        for record in self.log.records(
            ExportFilter(kinds=(EventKind.FEEDBACK,)), newest_first=True
        ):
            if rating is not None and record.data.get("rating") != rating:
                continue
            texts = self.log.payload(record) or {}
            seq = int(record.data["question_seq"])
            found.append(
                Feedback(
                    record.seq,
                    record.ts,
                    record.actor,
                    record.data["rating"],
                    seq,
                    texts.get("comment"),
                    one(self.log, seq),
                )
            )
            if limit is not None and len(found) >= limit:
                break
        return found

    def latest(self, *, rating: str | None = None) -> Iterator[Feedback]:
        """Each user's last rating of each answer (a change of mind replaces the first)."""
        seen: set[tuple[str, int]] = set()
        for entry in self.entries():
            key = (entry.user, entry.question_seq)
            if key in seen:
                continue
            seen.add(key)
            if rating is None or entry.rating == rating:
                yield entry


def _cited_paths(row: Row) -> list[str]:
    """The files of the passages the rated answer cited."""
    if row.record is None or not row.personal:
        return []
    cited = {c.get("n") for c in row.record.data.get("chunks") or [] if c.get("cited")}
    passages = row.personal.get("passages") or []
    return sorted({p["path"] for p in passages if p.get("n") in cited and p.get("path")})


def rows(entries: Iterator[Feedback], mask: Mask | None = None) -> Iterator[dict[str, Any]]:
    """Eval-set lines (``assistant eval`` format) from feedback whose question text is kept;
    ``mask`` masks the texts of collections set to redact personal data (audit/masking.py)."""
    for entry in entries:
        row = entry.question
        texts = row.personal if row is not None else None
        if row is None or not texts or not isinstance(texts.get("question"), str):
            continue  # erased, or never kept: nothing to ask again
        if mask is not None and row.record is not None:
            texts = mask(row.record, texts)
        line: dict[str, Any] = {"question": texts["question"], "kind": f"marked-{entry.rating}"}
        if entry.rating == "up":
            line["gold"] = _cited_paths(row)
        else:  # for a reviewer: the gold documents, or none if it should be refused
            line["gold"] = []
            line["answer_given"] = texts.get("answer")
            line["cited"] = _cited_paths(row)
            if entry.comment:
                line["comment"] = entry.comment
        line["feedback"] = {"seq": entry.seq, "question_seq": entry.question_seq}
        yield line
