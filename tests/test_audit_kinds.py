"""One registry entry per audit event kind (``assistant.audit.kinds``): every kind has
exactly one, it names what writes the kind, and it gives the labels and collections the
review pages and the chain's collection index had before the registry."""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from assistant.audit import AuditLog, EventKind
from assistant.audit.embedders import record_embedder_tuned, record_reembedded
from assistant.audit.events import (
    record_answer_failure,
    record_erasure,
    record_ingest,
    record_model_event,
    record_settings,
    recorder,
)
from assistant.audit.export import ExportFilter
from assistant.audit.feedback import FeedbackBook
from assistant.audit.ingests import record_upload
from assistant.audit.kinds import (
    ANY,
    REGISTRY,
    Collections,
    KindSpec,
    collections_of,
    label,
    spec_for,
)
from assistant.audit.search import Row
from tests.audit_support import make_log

DOC = "d" * 64


class Settings(BaseModel):
    collection: str = "hr"  # nested under ``settings``: not a collection the record is about


PASSAGES = [
    {"n": 1, "chunk_id": "c1", "doc_id": DOC, "collection": "hr", "cited": True},
    {"n": 2, "chunk_id": "c2", "doc_id": None, "collection": None, "cited": False},
    {"n": 3, "chunk_id": "c3", "doc_id": DOC, "collection": "it", "cited": False},
]


def _resolve(dotted: str) -> Any:
    """A module, or an attribute reached from the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise AssertionError(f"nothing is called {dotted}")


def test_every_kind_has_exactly_one_entry_with_a_label_and_collections() -> None:
    from assistant.audit import kinds

    declared = [s.kind for s in kinds._SPECS]
    assert sorted(declared) == sorted(EventKind), "one entry per EventKind member, no more"
    assert set(REGISTRY) == set(EventKind)
    for kind, spec in REGISTRY.items():
        assert isinstance(spec, KindSpec) and spec.kind is kind
        assert callable(spec.label) and isinstance(spec.collections, Collections)
        assert isinstance(label(kind, {}), str)
        assert spec_for(kind.value) is spec
    assert spec_for("no_such_kind") is None


@pytest.mark.parametrize("kind", list(EventKind))
def test_each_kinds_builders_exist(kind: EventKind) -> None:
    for dotted in REGISTRY[kind].builders:
        assert _resolve(dotted) is not None, dotted
    reserved = {EventKind.ROLE_CHANGE}  # declared by issue 5, written by nothing yet
    assert bool(REGISTRY[kind].builders) != (kind in reserved)


def _one_of_each(log: AuditLog) -> None:
    """A record of every kind, from its builder where one is callable here, else with the
    data its writer (sign-in, the review pages) gives."""
    write = recorder(log)
    write("login", "alice", {"address": "10.0.0.1", "via": "password"})
    write("logout", "alice", {"address": "10.0.0.1", "reason": "user"})
    write("login_failed", "-", {"address": "10.0.0.2"})
    asked = log.record(
        "question", "alice", {"chunks": PASSAGES, "refused": False}, {"question": "q?"}
    )
    FeedbackBook(log).give("alice", asked.seq, "down", "the figure is wrong")
    files = [{"name": "memo.pdf", "sha256": "f" * 64, "size": 10, "refused": None}]
    record_upload(log, actor="adam", collection="hr", files=files)
    log.record("question", "bob", {"note": "no passages"})
    record_ingest(log, actor="system", doc_id=DOC, collection="hr", path="/in/a.pdf", chunks=3)
    record_ingest(log, actor="system", doc_id="e" * 64, collection="it", replaces=DOC)
    record_erasure(log, {"doc_id": DOC, "actor": "admin", "chunks": 3}, collection="hr")
    record_erasure(log, {"doc_id": DOC, "actor": "admin"})
    log.erase_subject("alice", actor="dpo")
    write("user_change", "admin", {"action": "add", "user": "bob", "groups": ["hr"]})
    write("role_change", "admin", {"action": "promote", "user": "bob"})
    write("acl_change", "admin", {"collection": "hr", "groups": ["hr"], "label": "secret"})
    log.record("audit_view", "officer", {"page": "review", "filters": {"collection": "hr"}})
    log.record("audit_view", "officer", {"page": "record", "seq": 2, "found": True})
    log.export(io.StringIO(), "jsonl", ExportFilter(collection="hr"), actor="officer")
    record_settings(log, Settings())
    log.purge(actor="dpo")
    record_model_event(log, "crashed", {"model": "m", "sha256": "s", "reason": "SIGILL"})
    record_answer_failure(
        log,
        user="alice",
        question="q?",
        conversation_id="c",
        error="timeout",
        detail="d",
        model_sha256=None,
    )
    hashes = {"sha256": "a" * 64, "weights_sha256": "b" * 64}
    record_reembedded(
        log,
        actor="console:root",
        old_embedder="m@onnx-int8",
        old_hashes=hashes,
        new_embedder="m-tuned-0123456789abcdef@onnx-int8",
        new_hashes={},
        chunks=3,
        index_kind="exact",
        generation=4,
        seconds=0.5,
    )
    record_embedder_tuned(
        log,
        actor="console:root",
        model="m-tuned-0123456789abcdef",
        manifest_sha256="c" * 64,
        weights_sha256="d" * 64,
        files={"model.safetensors": "d" * 64},
        lineage={"base": {"name": "m"}, "collection": "hr", "pairs": 7},
    )


def test_collections_per_kind_are_what_the_kind_independent_rule_gave(tmp_path: Path) -> None:
    # before the registry, chain.py read ``data.collection`` and each ``data.chunks[*]
    # .collection`` of every record, whatever its kind: ANY is that rule, gathered from
    # the entries, and every kind's own rule gives the same on what its writers write
    assert Collections(keys=("collection",), per_item=("chunks",)) == ANY
    log = make_log(tmp_path)
    _one_of_each(log)
    records = list(log.records(ExportFilter()))
    assert {r.kind for r in records} == set(EventKind), "a record of every kind"
    got = {}
    for rec in records:
        assert collections_of(rec.kind, rec.data) == ANY.of(rec.data), rec.kind
        got.setdefault(rec.kind, set()).update(collections_of(rec.kind, rec.data))
    assert {k: v for k, v in got.items() if v} == {
        "question": {"hr", "it"},
        "ingest": {"hr"},
        "reingest": {"it"},
        "erasure": {"hr"},
        "acl_change": {"hr"},
        "embedder_tuned": {"hr"},
        "feedback": {"hr", "it"},
        "upload": {"hr"},
    }
    hr = [r.kind for r in log.records(ExportFilter(collection="hr"))]
    assert hr == [
        "question",
        "feedback",
        "upload",
        "ingest",
        "erasure",
        "acl_change",
        "embedder_tuned",
    ]
    assert log.verify().ok
    log.close()


def test_a_record_of_no_known_kind_gets_the_kind_independent_rule() -> None:
    data = {"collection": "hr", "chunks": [{"collection": "it"}, "x"], "label": "a"}
    assert collections_of("edited_kind", data) == {"hr", "it"}
    assert collections_of("login", data) == set()
    assert label("edited_kind", {"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'


def _summary(kind: str, data: dict[str, Any], texts: dict[str, Any] | None = None) -> str:
    from assistant.audit.records import GENESIS_HASH, AuditRecord
    from assistant.server.review_view import summary

    rec = AuditRecord(1, "2025-03-01T09:00:01.123456Z", kind, "a", GENESIS_HASH, data)
    return summary(Row(1, rec, texts))


@pytest.mark.parametrize(
    ("kind", "data", "shown"),
    [
        ("login", {"via": "password"}, "login via password"),
        ("logout", {"reason": "idle"}, "logout idle"),
        ("login_failed", {}, "login failed"),
        ("question", {}, "question (no text kept)"),
        (
            "ingest",
            {"doc_id": DOC, "collection": "hr", "label": "x"},
            "document dddddddddddd… into hr, x",
        ),
        ("reingest", {"doc_id": DOC, "collection": "hr"}, "document dddddddddddd… into hr"),
        ("erasure", {"scope": "document", "erased": 2}, '{"erased": 2, "scope": "document"}'),
        ("user_change", {"action": "add", "user": "bob"}, "add bob"),
        ("role_change", {"user": "bob"}, "change bob"),
        (
            "acl_change",
            {"collection": "hr", "groups": [], "label": "secret"},
            "hr: no group, secret",
        ),
        ("audit_view", {"page": "record", "seq": 7}, "viewed record record 7"),
        ("audit_export", {"records": 3, "format": "csv"}, "exported 3 records as csv"),
        ("settings_at_startup", {"version": "1.0"}, "started, version 1.0"),
        ("retention_purge", {"records_dropped": 0}, '{"records_dropped": 0}'),
        (
            "model_worker",
            {"model": "m", "phase": "fallback", "cpu_mode": "avx2"},
            "model m fallback (avx2 mode)",
        ),
        ("answer_failed", {"error": "timeout"}, "no answer: timeout"),
        (
            "reembedded",
            {"chunks": 12, "old_embedder": "a@torch", "new_embedder": "b@torch"},
            "re-embedded 12 chunks: a@torch -> b@torch",
        ),
        (
            "embedder_tuned",
            {"base": {"name": "a"}, "model": "a-tuned-0123456789abcdef", "pairs": 190},
            "tuned a into a-tuned-0123456789abcdef on 190 generated questions",
        ),
    ],
)
def test_each_kind_is_labelled_as_the_review_page_showed_it(
    kind: str, data: dict[str, Any], shown: str
) -> None:
    assert _summary(kind, data) == shown


def test_a_questions_label_is_its_text_or_when_it_was_erased() -> None:
    assert _summary("question", {}, {"question": "  where\n is  it? "}) == "where is it?"
    erased = ("2025-03-02T10:00:00.000000Z", "erasure request")
    assert label("question", {}, None, erased) == "question text erased on 2025-03-02 10:00:00 UTC"
