"""Ingest with the real parsers, SQLite and FAISS, and a hash embedder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.store import recovery
from ingest.parsing.parse import parse_file
from tests.conftest import SAMPLE


def test_text_pdf_yields_its_text_with_page_numbers_offline() -> None:
    # unstructured silently returns nothing for PDFs when its spaCy model is missing offline.
    parsed = parse_file(SAMPLE / "hr-handbook.pdf")
    pages = {e.page for e in parsed.elements}
    assert pages == {1, 2, 3, 4, 5}
    page3 = " ".join(" ".join(e.text.split()) for e in parsed.elements if e.page == 3)
    assert "entitled to 27 days of paid annual leave" in page3
    assert any(e.kind == "title" and e.text == "Annual Leave" for e in parsed.elements)


def test_every_sample_format_parses() -> None:
    for name in (
        "it-security-policy.docx",
        "expenses-policy.md",
        "facilities.html",
        "travel-faq.txt",
    ):
        parsed = parse_file(SAMPLE / name)
        assert parsed.elements, name


def test_ingest_sample_keeps_document_page_and_section_on_chunks(resources: Resources) -> None:
    report = resources.ingestor.ingest([SAMPLE], "sample")
    assert len(report.added) == 5 and not report.quarantined
    counts = resources.store.counts()
    assert counts["documents"] == 5
    assert counts["chunks"] == report.chunks == resources.index.ntotal
    hits = resources.retriever.retrieve("paid annual leave days full-time employees entitled")
    top = hits[0]
    assert top.document.path.endswith("hr-handbook.pdf")
    assert top.chunk.page == 3
    assert top.chunk.section == "Annual Leave"
    assert "27 days" in top.chunk.text


def test_reingest_skips_unchanged_and_replaces_changed(
    resources: Resources, sample_copy: Path
) -> None:
    first = resources.ingestor.ingest([sample_copy], "sample")
    again = resources.ingestor.ingest([sample_copy], "sample")
    assert len(again.skipped) == len(first.added) == 5
    md = sample_copy / "expenses-policy.md"
    md.write_text(
        md.read_text() + "\n\n## Parking\n\nParking costs are refunded up to 12 EUR a day.\n"
    )
    changed = resources.ingestor.ingest([sample_copy], "sample")
    assert changed.changed == [str(md)]
    assert resources.index.ntotal == resources.store.counts()["chunks"]
    assert any(
        "12 EUR" in h.chunk.text for h in resources.retriever.retrieve("parking refunded per day")
    )


def test_same_bytes_under_two_names_are_stored_once(resources: Resources, tmp_path: Path) -> None:
    a = tmp_path / "a" / "policy.md"
    b = tmp_path / "b" / "copy.md"
    for p in (a, b):
        p.parent.mkdir(parents=True)
        p.write_text("# Policy\n\nVisitors sign in at reception.\n")
    report = resources.ingestor.ingest([tmp_path / "a", tmp_path / "b"], "c")
    assert report.added == [str(a)] and report.duplicates == [str(b)]
    assert resources.store.counts() == {"documents": 1, "chunks": 1, "paths": 2}
    resources.ingestor.forget([str(a)])
    assert resources.store.counts()["documents"] == 1  # still held by the copy
    resources.ingestor.forget([str(b)])
    assert resources.store.counts() == {"documents": 0, "chunks": 0, "paths": 0}
    assert resources.index.ntotal == 0


def test_forget_leaves_no_vectors_and_no_hits(resources: Resources, sample_copy: Path) -> None:
    resources.ingestor.ingest([sample_copy], "sample")
    sentence = "Visitors must be signed in by a host"
    assert any("signed in" in h.chunk.text for h in resources.retriever.retrieve(sentence))
    resources.ingestor.forget([str(sample_copy / "facilities.html")])
    hits = resources.retriever.retrieve(sentence)
    assert all(not h.document.path.endswith("facilities.html") for h in hits)
    assert resources.index.ntotal == resources.store.counts()["chunks"]


def test_bad_files_are_quarantined_with_a_reason_and_good_ones_still_ingested(
    resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("The canteen opens at noon.")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "tool.exe").write_bytes(os.urandom(64))
    report = resources.ingestor.ingest([folder], "c")
    assert report.added == [str(folder / "good.txt")]
    reasons = {Path(q.path).name: q.code for q in report.quarantined}
    assert reasons == {"empty.txt": "no_text", "tool.exe": "unsupported_format"}
    written = [json.loads(p.read_text()) for p in resources.settings.quarantine_dir.glob("*.json")]
    assert {Path(w["path"]).name for w in written} == {"empty.txt", "tool.exe"}
    assert all(w["message"] for w in written)


def test_index_is_rebuilt_from_the_store_when_out_of_step(resources: Resources) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    n = resources.store.counts()["chunks"]
    path = resources.index.path
    path.write_bytes(b"garbage")  # a torn or foreign file
    from assistant.store.index import VectorIndex

    reopened = VectorIndex.open(path, resources.embedder.dim, resources.store)
    assert reopened.ntotal == n


def test_a_writer_catches_up_with_one_that_wrote_since_it_read_the_index(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "parking.txt").write_text("Parking permits are issued by the facilities desk.\n")
    (second / "canteen.txt").write_text("The canteen opens at 11:30 on weekdays.\n")
    resources.ingestor.ingest([SAMPLE], "sample")
    resources.close()
    stale = Resources(settings, embedder=HashEmbedder())
    try:
        ingestor = stale.ingestor  # reads the index now ...
        other = Resources(settings, embedder=HashEmbedder())
        try:
            other.ingestor.ingest([first], "notes")  # ... another process writes it ...
        finally:
            other.close()
        ingestor.ingest([second], "notes")  # ... and this one's writes keep the other's
        ingestor.close()
        assert stale.index.ntotal == stale.store.counts()["chunks"]
    finally:
        stale.close()
    res = Resources(settings, embedder=HashEmbedder())
    try:
        assert recovery.saved_generation(res.index) == res.store.generation()
        found = res.retriever.retrieve("Who issues parking permits?")
        assert found and found[0].document.path.endswith("parking.txt")
    finally:
        res.close()
