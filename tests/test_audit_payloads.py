"""Personal texts live outside the chain: erasable, while the chain keeps verifying.
And the records the app writes: questions, ingests, erasures, settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from pydantic import BaseModel, SecretStr

from assistant.answering.citations import as_sources
from assistant.answering.prompt import PROMPT_VERSION
from assistant.audit import EventKind
from assistant.audit.events import (
    document_subject,
    public_settings,
    record_answer,
    record_erasure,
    record_ingest,
    recorder,
    sync_erasure_receipts,
)
from assistant.audit.export import ExportFilter
from assistant.cli.main import cli
from assistant.domain import Answer, sha256_hex
from assistant.resources import Resources
from tests.audit_support import make_log
from tests.conftest import SAMPLE

SECRET = "Zebulon-Quartermaine-4471"


def _files_hold(root: Path, needle: str) -> list[str]:
    """Which SQLite files (database, WAL) under ``root`` still contain ``needle``."""
    raw = needle.encode()
    return [p.name for p in root.glob("*.sqlite*") if raw in p.read_bytes()]


def test_erasing_a_subject_keeps_the_chain_verifiable_and_the_text_unrecoverable(
    tmp_path: Path,
) -> None:
    log = make_log(tmp_path, every=3)
    long_text = f"{SECRET} " + "x" * 9000  # spills into overflow pages
    for i in range(4):
        log.record(
            "question", "alice", {"i": i}, {"question": f"{SECRET} q{i}", "answer": long_text}
        )
    kept = log.record("question", "bob", {}, {"question": "bob's question", "answer": "fine"})
    audit_dir = tmp_path / "audit"
    assert _files_hold(audit_dir, SECRET) and "chain.sqlite" not in _files_hold(audit_dir, SECRET)

    assert log.erase_subject("alice", actor="dpo") == 4
    assert _files_hold(audit_dir, SECRET) == []
    report = log.verify()
    assert report.ok, report.problems
    assert (report.payloads, report.erased_payloads) == (1, 4)
    first = next(log.records())
    assert log.payload(first) is None and first.payload_hash  # the commitment stays
    assert log.payload(kept) == {"question": "bob's question", "answer": "fine"}
    erasure = next(log.records(newest_first=True, limit=1))
    assert erasure.kind == EventKind.ERASURE and erasure.actor == "dpo"
    assert erasure.data == {"scope": "payloads_of_subject", "subject": "alice", "erased": 4}
    log.close()


def test_erasing_texts_that_mention_someone_who_is_not_a_user(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.record("question", "carol", {}, {"question": "Dose for patient Dana Whitfield?"})
    log.record("question", "carol", {}, {"question": "Where is the canteen?"})
    assert log.erase_subject("dana whitfield", actor="dpo", containing=True) == 1
    report = log.verify()
    assert report.ok and report.erased_payloads == 1 and report.payloads == 1
    assert _files_hold(tmp_path / "audit", "Whitfield") == []  # not even in the erasure record
    log.close()


def test_erase_subject_cli(tmp_path: Path) -> None:
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    runner.invoke(cli, ["audit", "keygen"], env=env)
    from assistant.audit import AuditLog
    from assistant.settings import Settings

    log = AuditLog.from_settings(Settings(data_dir=tmp_path / "data"))
    log.record("question", "erin", {}, {"question": SECRET})
    log.close()
    result = runner.invoke(cli, ["audit", "erase-subject", "erin", "--yes"], env=env)
    assert result.exit_code == 0 and "erased 1 payload(s)" in result.output
    assert runner.invoke(cli, ["audit", "verify"], env=env).exit_code == 0
    assert _files_hold(tmp_path / "data" / "audit", SECRET) == []


def test_the_question_record_holds_the_exact_chunks_used(resources: Resources) -> None:
    resources.ingestor.ingest([SAMPLE / "expenses-policy.md", SAMPLE / "travel-faq.txt"], "sample")
    question = "Submit every claim with form FIN-3 within how many days of the expense?"
    answer = resources.answers.answer(question, conversation_id="conv-1")
    assert answer.sources
    audit = resources.audit
    rec = record_answer(
        audit, user="alice", answer=answer, model_sha256="ab" * 32, store=resources.store
    )
    docs = {d.id: d for d in resources.store.documents()}
    assert rec.kind == "question" and rec.actor == "alice"
    assert rec.data["conversation_id"] == "conv-1"
    assert rec.data["prompt_version"] == PROMPT_VERSION and rec.data["model_sha256"] == "ab" * 32
    assert rec.data["refused"] is False and isinstance(rec.data["latency_ms"], int)
    assert [c["chunk_id"] for c in rec.data["chunks"]] == [s.chunk_id for s in answer.sources]
    assert [c["text_sha256"] for c in rec.data["chunks"]] == [
        sha256_hex(s.quote) for s in answer.sources
    ]
    assert all(c["doc_id"] in docs and c["collection"] == "sample" for c in rec.data["chunks"])
    cited = {c.n for c in answer.citations}
    assert [c["cited"] for c in rec.data["chunks"]] == [s.n in cited for s in answer.sources]
    texts = audit.payload(rec)
    assert texts is not None
    assert texts["question"] == question and texts["answer"] == answer.answer
    assert [p["text"] for p in texts["passages"]] == [s.quote for s in answer.sources]
    assert question not in str(rec.to_dict())  # the chain holds no personal text

    # the same from retrieval hits (DoneEvent.hits), without a store lookup
    hits = resources.retriever.retrieve(question)
    given = Answer(question, "x", False, [], as_sources(hits), "conv-2", {"total_s": 0.25})
    rec2 = record_answer(audit, user="alice", answer=given, model_sha256=None, hits=hits)
    assert [c["doc_id"] for c in rec2.data["chunks"]] == [h.document.id for h in hits]
    assert rec2.data["latency_ms"] == 250
    assert audit.verify().ok


def test_ingest_and_erasure_receipts(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    path = "/inbox/hr/dana_whitfield_referral.pdf"
    rec = record_ingest(
        log, actor="admin", doc_id="d1" * 32, collection="hr", path=path, label="secret", chunks=7
    )
    assert rec.kind == EventKind.INGEST and rec.data["label"] == "secret"
    assert log.payload(rec) == {"path": path}
    again = record_ingest(
        log, actor="admin", doc_id="d2" * 32, collection="hr", path=path, replaces="d1" * 32
    )
    assert again.kind == EventKind.REINGEST
    receipt = {"doc_id": "d2" * 32, "sha256": "d2" * 32, "actor": "admin", "chunks": 7}
    erased = record_erasure(log, receipt, collection="hr")
    assert erased.actor == "admin" and erased.data["payloads_erased"] == 1
    assert erased.data["receipt"] == {"doc_id": "d2" * 32, "sha256": "d2" * 32, "chunks": 7}
    assert erased.data["receipt_sha256"] and log.payload(again) is None
    assert log.payload(rec) == {"path": path}  # the older version is another document
    assert document_subject("d1" * 32) == "document:" + "d1" * 32
    assert log.verify().ok
    log.close()


def test_settings_at_startup_leave_secrets_out() -> None:
    class S(BaseModel):
        top_k: int = 4
        session_secret: str = "hunter2"
        api_token: str = "t0k"
        signing: SecretStr = SecretStr("s3cret")
        data_dir: Path = Path("/srv/data")

    out = public_settings(S())
    assert out == {
        "top_k": 4,
        "session_secret": "<redacted>",
        "api_token": "<redacted>",
        "signing": "<redacted>",
        "data_dir": "/srv/data",
    }


@dataclass(frozen=True)
class Receipt:
    """The shape of assistant/store/journal.py's ErasureReceipt."""

    doc_id: str
    sha256: str
    at: str
    actor: str
    reason: str
    chunks: int
    id: int = 0


def test_erasure_receipts_are_taken_over_once(tmp_path: Path) -> None:
    journal = [
        Receipt("a" * 64, "a" * 64, "2025-03-01T09:00:00", "cli:root", "forget", 3, 1),
        Receipt("b" * 64, "b" * 64, "2025-03-01T09:01:00", "watch", "file removed", 5, 2),
    ]

    def after(last: int) -> list[Receipt]:
        return [r for r in journal if r.id > last]

    log = make_log(tmp_path)
    record_ingest(log, actor="watch", doc_id="b" * 64, collection="hr", path="/inbox/b.pdf")
    assert sync_erasure_receipts(log, after) == 2
    assert sync_erasure_receipts(log, after) == 0
    journal.append(Receipt("c" * 64, "c" * 64, "2025-03-01T09:02:00", "cli:root", "forget", 1, 3))
    other = make_log(tmp_path)  # a second process syncing the same journal
    assert sync_erasure_receipts(other, after) == 1
    assert sync_erasure_receipts(log, after) == 0
    other.close()
    erasures = list(log.records(ExportFilter(kinds=("erasure",))))
    assert [(r.actor, r.data["receipt"]["id"]) for r in erasures] == [
        ("cli:root", 1),
        ("watch", 2),
        ("cli:root", 3),
    ]
    assert erasures[1].data["payloads_erased"] == 1  # the ingest record's path went with it
    assert log.verify().ok
    log.close()


def test_recorder_moves_addresses_out_of_the_chain(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    record = recorder(log)
    rec = record("login_failed", "mallory", {"address": "192.0.2.7", "via": "password"})
    assert rec.data == {"via": "password"} and log.payload(rec) == {"address": "192.0.2.7"}
    assert "192.0.2.7" not in (tmp_path / "audit" / "chain.sqlite").read_bytes().decode("latin-1")
    log.close()
