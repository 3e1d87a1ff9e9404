"""Ingest, re-ingest, erasure and questions land in the audit log, whichever door they use."""

from __future__ import annotations

from pathlib import Path

from assistant.resources import Resources
from tests.conftest import open_collection


def test_ingest_reingest_erasure_and_question_are_audited(
    resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "policy.md"
    doc.write_text("# Policy\n\nVisitors sign in at reception.\n")
    open_collection(resources, "c")
    resources.ingestor.ingest([folder], "c")
    doc.write_text("# Policy\n\nVisitors sign in at the front desk.\n")
    resources.ingestor.ingest([folder], "c")
    answer = resources.answers.answer("Where do visitors sign in?", user="alice")
    resources.ingestor.forget([str(doc)])

    records = list(resources.audit.records())
    kinds = [r.kind for r in records]
    ingests = [r for r in records if r.kind in ("ingest", "reingest")]
    assert len(ingests) == 2 and ingests[1].data.get("replaces") == ingests[0].data["doc_id"]
    assert ingests[0].data["label"] == "public"
    question = next(r for r in records if r.kind == "question")
    assert question.actor == "alice"
    assert [s["chunk_id"] for s in question.data["chunks"]] == [c.chunk_id for c in answer.sources]
    assert "erasure" in kinds
    assert resources.audit.verify().ok
