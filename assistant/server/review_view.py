"""What the review pages show of a record: a one-line summary, and a question's passages.

Pure functions from records to plain strings and dicts; the templates put them
on the page through Jinja's autoescape, so a document or question carrying
``<script>`` or ``onerror=`` is shown as text, never run.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.audit.records import AuditRecord
from assistant.audit.search import Row
from assistant.domain import sha256_hex

SUMMARY_CHARS = 160


def when(ts: str | None) -> str:
    """``2025-03-01T09:00:01.123456Z`` -> ``2025-03-01 09:00:01 UTC``."""
    if not ts:
        return ""
    return f"{ts[:10]} {ts[11:19]} UTC" if len(ts) >= 19 and ts[10] == "T" else ts


def _clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def summary(row: Row) -> str:
    """One line about a record for the list: the question, the document, the change."""
    rec = row.record
    if rec is None:
        return row.problem or "unreadable record"
    data, texts = rec.data, row.personal or {}
    kind = rec.kind
    if kind == "question":
        if isinstance(texts.get("question"), str):
            return _clip(texts["question"])
        if row.erased:
            return f"question text erased on {when(row.erased[0])}"
        return "question (no text kept)"
    if kind in ("ingest", "reingest"):
        doc = str(data.get("doc_id") or "")[:12]
        label = f", {data['label']}" if data.get("label") else ""
        return _clip(f"document {doc}… into {data.get('collection')}{label}")
    if kind in ("login", "logout", "login_failed"):
        how = f"via {data['via']}" if data.get("via") else str(data.get("reason") or "")
        return f"{kind.replace('_', ' ')} {how}".strip()
    if kind == "acl_change":
        groups = ", ".join(data.get("groups") or []) or "no group"
        return _clip(f"{data.get('collection')}: {groups}, {data.get('label')}")
    if kind in ("user_change", "role_change"):
        return _clip(f"{data.get('action', 'change')} {data.get('user', '')}".strip())
    if kind == "audit_view":
        if data.get("denied"):
            return f"refused: {data.get('page', 'review')} page"
        target = f" record {data['seq']}" if data.get("seq") is not None else ""
        return f"viewed {data.get('page', 'review')}{target}"
    if kind == "audit_export":
        return f"exported {data.get('records')} records as {data.get('format')}"
    if kind == "settings_at_startup":
        return f"started, version {data.get('version')}"
    if kind == "model_worker":
        mode = f" ({data['cpu_mode']} mode)" if data.get("cpu_mode") else ""
        why = f": {data['reason']}" if data.get("reason") else ""
        return _clip(f"model {data.get('model')} {data.get('phase')}{mode}{why}")
    if kind == "answer_failed":
        return _clip(f"no answer: {data.get('error')}")
    return _clip(_compact(data))


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
