"""What the review pages show of a record: a one-line summary, and a question's passages.

Pure functions from records to plain strings and dicts; the templates put them
on the page through Jinja's autoescape, so a document or question carrying
``<script>`` or ``onerror=`` is shown as text, never run.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.audit.kinds import label, when
from assistant.audit.records import AuditRecord
from assistant.audit.search import Row
from assistant.domain import sha256_hex

__all__ = ["fields", "passages", "summary", "when"]


def summary(row: Row) -> str:
    """One line about a record for the list: its kind's label (``audit.kinds``)."""
    rec = row.record
    if rec is None:
        return row.problem or "unreadable record"
    return label(rec.kind, rec.data, row.personal, row.erased)


def fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A record's data (or texts) as name / value lines, nested values as indented JSON."""
    out = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, str):
            out.append((key, value))
        else:
            out.append((key, json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)))
    return out


def passages(rec: AuditRecord, texts: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A question's sources as recorded (ids and hashes, kept for good) joined with the
    texts as given to the model (while not erased), each checked against its hash."""
    given = {}
    if texts and isinstance(texts.get("passages"), list):
        given = {p.get("n"): p for p in texts["passages"] if isinstance(p, dict)}
    out = []
    chunks = rec.data.get("chunks")
    for chunk in chunks if isinstance(chunks, list) else []:
        if not isinstance(chunk, dict):
            continue
        shown = given.get(chunk.get("n"), {})
        text = shown.get("text")
        matches = None
        if isinstance(text, str) and chunk.get("text_sha256"):
            matches = sha256_hex(text) == chunk["text_sha256"]
        out.append(
            {
                "n": chunk.get("n"),
                "chunk_id": chunk.get("chunk_id"),
                "text_sha256": chunk.get("text_sha256"),
                "doc_id": chunk.get("doc_id"),
                "collection": chunk.get("collection"),
                "score": chunk.get("score"),
                "cited": bool(chunk.get("cited")),
                "document": shown.get("document"),
                "path": shown.get("path"),
                "page": shown.get("page"),
                "section": shown.get("section"),
                "text": text if isinstance(text, str) else None,
                "matches": matches,
            }
        )
    return out
