"""Every kind of audit event, declared once: its ``EventKind`` member and one ``REGISTRY``
entry (``KindSpec``) saying who writes it, how the review pages label it and which
collections a record of it is about.

Adding a kind: add its member to ``EventKind`` and its ``KindSpec`` to ``_SPECS``, both
here, and write it from its builder (the function named in ``builders``). Nothing else
changes: the review pages take the label from here and the chain's collection index
(``record_collections``, re-derived by ``verify``) the collections; a test fails until
every member has exactly one entry.

This module imports nothing from the app: the chain, the lowest floor of the audit log,
reads it, so the builders (which need the log) live with their facts and are named here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

SUMMARY_CHARS = 160


class EventKind(StrEnum):
    """Everything issue 5 asks the log to hold, one value per kind of event."""

    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILED = "login_failed"
    QUESTION = "question"
    INGEST = "ingest"
    REINGEST = "reingest"
    ERASURE = "erasure"
    USER_CHANGE = "user_change"
    ROLE_CHANGE = "role_change"
    ACL_CHANGE = "acl_change"
    AUDIT_VIEW = "audit_view"
    AUDIT_EXPORT = "audit_export"
    SETTINGS_AT_STARTUP = "settings_at_startup"
    RETENTION_PURGE = "retention_purge"
    MODEL_WORKER = "model_worker"  # the model's worker process: started, crashed, refused
    ANSWER_FAILED = "answer_failed"  # a question that got an error instead of an answer
    REEMBEDDED = "reembedded"  # every chunk's vector made again by another embedder
    EMBEDDER_TUNED = "embedder_tuned"  # an embedding model tuned on the corpus: its lineage
    FEEDBACK = "feedback"  # a user's thumbs up or down on one of their answers
    UPLOAD = "upload"  # files an administrator uploaded in the page, into a collection


@dataclass(frozen=True, slots=True)
class Collections:
    """Where a kind's data names collections: ``keys`` each hold one name (an ingest's
    ``collection``), ``per_item`` each a list of objects with a ``collection`` (a
    question's ``chunks``). Read from the hashed data only, so the index is a pure
    function of the chain; empty names and other types are skipped. (Before the registry
    every record was read for both; each kind's writers only ever wrote what its entry
    declares, so existing logs index the same: ``tests/test_audit_kinds.py``.)"""

    keys: tuple[str, ...] = ()
    per_item: tuple[str, ...] = ()

    def of(self, data: Mapping[str, Any]) -> set[str]:
        found: set[str] = set()
        for key in self.keys:
            own = data.get(key)
            if isinstance(own, str) and own:
                found.add(own)
        for key in self.per_item:
            items = data.get(key)
            if isinstance(items, list):
                for item in items:
                    name = item.get("collection") if isinstance(item, dict) else None
                    if isinstance(name, str) and name:
                        found.add(name)
        return found


NONE = Collections()
ONE = Collections(keys=("collection",))
PER_PASSAGE = Collections(per_item=("chunks",))


@dataclass(frozen=True, slots=True)
class Facts:
    """What a label may use: the record's kind and data, its texts while kept (else
    empty) and ``erased``, (when, why) its texts were erased."""

    kind: str
    data: Mapping[str, Any]
    texts: Mapping[str, Any]
    erased: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind: ``label`` gives the review list's one line, ``collections`` where its data
    names collections, ``builders`` the dotted names of what writes it (``()``: reserved)."""

    kind: EventKind
    label: Callable[[Facts], str]
    collections: Collections = NONE
    builders: tuple[str, ...] = ()


def when(ts: str | None) -> str:
    """``2025-03-01T09:00:01.123456Z`` -> ``2025-03-01 09:00:01 UTC``."""
    if not ts:
        return ""
    return f"{ts[:10]} {ts[11:19]} UTC" if len(ts) >= 19 and ts[10] == "T" else ts


def _clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_json(f: Facts) -> str:
    """The label of a kind with nothing better to say: its data, compact."""
    text = json.dumps(f.data, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return _clip(text)


def _question(f: Facts) -> str:
    if isinstance(f.texts.get("question"), str):
        return _clip(f.texts["question"])
    if f.erased:
        return f"question text erased on {when(f.erased[0])}"
    return "question (no text kept)"


def _document(f: Facts) -> str:
    doc = str(f.data.get("doc_id") or "")[:12]
    label = f", {f.data['label']}" if f.data.get("label") else ""
    return _clip(f"document {doc}… into {f.data.get('collection')}{label}")


def _sign_in(f: Facts) -> str:
    d = f.data
    how = f"via {d['via']}" if d.get("via") else str(d.get("reason") or "")
    return f"{f.kind.replace('_', ' ')} {how}".strip()


def _acl(f: Facts) -> str:
    groups = ", ".join(f.data.get("groups") or []) or "no group"
    return _clip(f"{f.data.get('collection')}: {groups}, {f.data.get('label')}")


def _account(f: Facts) -> str:
    return _clip(f"{f.data.get('action', 'change')} {f.data.get('user', '')}".strip())


def _view(f: Facts) -> str:
    d = f.data
    if d.get("denied"):
        return f"refused: {d.get('page', 'review')} page"
    target = f" record {d['seq']}" if d.get("seq") is not None else ""
    return f"viewed {d.get('page', 'review')}{target}"


def _model(f: Facts) -> str:
    d = f.data
    mode = f" ({d['cpu_mode']} mode)" if d.get("cpu_mode") else ""
    why = f": {d['reason']}" if d.get("reason") else ""
    return _clip(f"model {d.get('model')} {d.get('phase')}{mode}{why}")


def _reembedded(f: Facts) -> str:
    d = f.data
    return _clip(f"re-embedded {d.get('chunks')} chunks: {d.get('old_embedder')} -> "
                 f"{d.get('new_embedder')}")  # fmt: skip


def _tuned(f: Facts) -> str:
    d = f.data
    base = (d.get("base") or {}).get("name") if isinstance(d.get("base"), dict) else None
    return _clip(f"tuned {base} into {d.get('model')} on {d.get('pairs')} generated questions")


def _feedback(f: Facts) -> str:
    rating = "marked right" if f.data.get("rating") == "up" else "marked wrong"
    about = f.texts.get("question") if isinstance(f.texts.get("question"), str) else None
    about = about or f"record {f.data.get('question_seq')}"
    comment = f' – "{f.texts["comment"]}"' if isinstance(f.texts.get("comment"), str) else ""
    return _clip(f"{rating}: {about}{comment}")


def _upload(f: Facts) -> str:
    files = f.data.get("files") or []
    refused = sum(1 for x in files if isinstance(x, dict) and x.get("refused"))
    more = f", {refused} refused" if refused else ""
    return _clip(f"uploaded {len(files)} file(s) into {f.data.get('collection')}{more}")


_ACCESS = "assistant.auth.access.AccessControl"
_EVENTS = "assistant.audit.events"
_SPECS = (
    KindSpec(
        EventKind.LOGIN, _sign_in, builders=(f"{_ACCESS}.login", f"{_ACCESS}.proxy_principal")
    ),
    KindSpec(EventKind.LOGOUT, _sign_in, builders=(f"{_ACCESS}.logout",)),
    KindSpec(EventKind.LOGIN_FAILED, _sign_in, builders=(f"{_ACCESS}.login",)),
    KindSpec(EventKind.QUESTION, _question, PER_PASSAGE, (f"{_EVENTS}.record_answer",)),
    KindSpec(EventKind.INGEST, _document, ONE, (f"{_EVENTS}.record_ingest",)),
    KindSpec(EventKind.REINGEST, _document, ONE, (f"{_EVENTS}.record_ingest",)),
    KindSpec(
        EventKind.ERASURE,
        _as_json,
        ONE,
        (
            "assistant.audit.receipts.record_erasure",
            "assistant.audit.receipts.sync_erasure_receipts",
            "assistant.audit.log.AuditLog.erase_subject",
        ),
    ),
    KindSpec(
        EventKind.USER_CHANGE,
        _account,
        builders=(f"{_ACCESS}.add_user", f"{_ACCESS}.disable_user", "assistant.cli.access"),
    ),
    KindSpec(EventKind.ROLE_CHANGE, _account),  # reserved: nothing writes it yet
    KindSpec(EventKind.ACL_CHANGE, _acl, ONE, (f"{_ACCESS}.set_collection",)),
    KindSpec(EventKind.AUDIT_VIEW, _view, builders=("assistant.server.review_pages",)),
    KindSpec(
        EventKind.AUDIT_EXPORT,
        lambda f: f"exported {f.data.get('records')} records as {f.data.get('format')}",
        builders=("assistant.audit.export.export",),
    ),
    KindSpec(
        EventKind.SETTINGS_AT_STARTUP,
        lambda f: f"started, version {f.data.get('version')}",
        builders=(f"{_EVENTS}.record_settings",),
    ),
    KindSpec(EventKind.RETENTION_PURGE, _as_json, builders=("assistant.audit.retention.purge",)),
    KindSpec(EventKind.MODEL_WORKER, _model, builders=(f"{_EVENTS}.record_model_event",)),
    KindSpec(
        EventKind.ANSWER_FAILED,
        lambda f: _clip(f"no answer: {f.data.get('error')}"),
        builders=(f"{_EVENTS}.record_answer_failure",),
    ),
    KindSpec(
        EventKind.REEMBEDDED, _reembedded, builders=("assistant.audit.embedders.record_reembedded",)
    ),
    KindSpec(
        EventKind.EMBEDDER_TUNED,
        _tuned,
        ONE,  # the collection it was tuned on, when one was chosen
        ("assistant.audit.embedders.record_embedder_tuned",),
    ),
    KindSpec(EventKind.UPLOAD, _upload, ONE, ("assistant.audit.ingests.record_upload",)),
    KindSpec(
        EventKind.FEEDBACK,
        _feedback,
        PER_PASSAGE,  # the rated answer's passages' collections
        ("assistant.audit.feedback.record_feedback",),
    ),
)

REGISTRY: Mapping[EventKind, KindSpec] = MappingProxyType({s.kind: s for s in _SPECS})

ANY = Collections(
    keys=tuple(sorted({k for s in _SPECS for k in s.collections.keys})),
    per_item=tuple(sorted({k for s in _SPECS for k in s.collections.per_item})),
)
"""Every place any kind names collections: the rule for a record of no known kind."""


def spec_for(kind: str) -> KindSpec | None:
    """The entry of a stored kind; ``None`` for a kind no entry knows (an edited record)."""
    try:
        return REGISTRY[EventKind(kind)]
    except ValueError:
        return None


def collections_of(kind: str, data: Mapping[str, Any]) -> set[str]:
    """The collections a record is about, as its kind's entry declares them."""
    spec = spec_for(kind)
    return (spec.collections if spec else ANY).of(data)


def label(
    kind: str,
    data: Mapping[str, Any],
    texts: Mapping[str, Any] | None = None,
    erased: tuple[str, str] | None = None,
) -> str:
    """The review list's one line about a record: its kind's label, else its data."""
    spec = spec_for(kind)
    return (spec.label if spec else _as_json)(Facts(kind, data, texts or {}, erased))
