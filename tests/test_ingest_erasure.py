"""Erasure and replacement: nothing stale stays, every erasure leaves a receipt."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from assistant.cli.inbox import run_forget
from assistant.errors import NotFound
from assistant.resources import Resources
from assistant.store.journal import ErasureReceipt, iter_receipts

SECRET = "Employee Jane Roe was granted sick leave from the fourth to the ninth of March."


def _no_trace_of(resources: Resources, sentence: str) -> None:
    """Not at the retriever, not in the lexical index, and FAISS matches the store."""
    hits = resources.retriever.retrieve(sentence)
    assert all(sentence not in h.chunk.text for h in hits)
    assert resources.store.search_text('"sick leave"', 10) == []
    assert resources.index.ntotal == resources.store.counts()["chunks"]


def test_removing_a_file_erases_it_with_a_receipt(resources: Resources, tmp_path: Path) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    (folder / "jane.txt").write_text(f"Absence record.\n\n{SECRET}\n")
    (folder / "other.txt").write_text("The cafeteria serves lunch from noon to two.")
    heard: list[ErasureReceipt] = []
    resources.ingestor.on_erasure.append(heard.append)
    resources.ingestor.ingest([folder], "hr")
    doc_id = resources.store.path_entry(str(folder / "jane.txt")).doc_id  # type: ignore[union-attr]
    assert any(SECRET in h.chunk.text for h in resources.retriever.retrieve(SECRET))

    (folder / "jane.txt").unlink()
    report = resources.ingestor.ingest([folder], "hr")

    assert report.removed == [str(folder / "jane.txt")]
    _no_trace_of(resources, SECRET)
    [receipt] = list(iter_receipts(resources.store))
    assert receipt.doc_id == receipt.sha256 == doc_id
    assert receipt.at and receipt.actor.startswith("ingest:") and receipt.chunks >= 1
    assert heard == [receipt]
    event = receipt.to_audit_event()
    assert event.kind == "erasure" and event.data["doc_id"] == doc_id


def test_forget_by_document_id_removes_every_path(resources: Resources, tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "jane.txt").write_text(SECRET)
    report = resources.ingestor.ingest([tmp_path / "a", tmp_path / "b"], "hr")
    assert len(report.added) == 1 and len(report.duplicates) == 1
    doc_id = resources.store.documents()[0].id
    assert resources.store.paths_of(doc_id) == [
        str(tmp_path / "a" / "jane.txt"),
        str(tmp_path / "b" / "jane.txt"),
    ]

    done = resources.ingestor.erase([doc_id[:12]], actor="cli:dpo")

    assert len(done.paths) == 2 and [r.actor for r in done.receipts] == ["cli:dpo"]
    assert resources.store.counts() == {"documents": 0, "chunks": 0, "paths": 0}
    _no_trace_of(resources, SECRET)


def test_a_changed_file_that_now_fails_is_quarantined_and_its_old_version_erased(
    resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    doc = folder / "jane.txt"
    doc.write_text(SECRET)
    resources.ingestor.ingest([folder], "hr")
    doc.write_bytes(os.urandom(4096))  # the new version is garbage

    report = resources.ingestor.ingest([folder], "hr")

    assert [q.code for q in report.quarantined] == ["unsupported_format"]
    assert resources.store.counts()["documents"] == 0
    _no_trace_of(resources, SECRET)
    [receipt] = list(iter_receipts(resources.store))
    assert "refused" in receipt.reason


def test_readers_see_one_version_while_a_file_is_replaced(
    resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    doc = folder / "parking.txt"
    common = "Parking in the north garage is free for staff."
    versions = [f"{common} Version alpha applies.", f"{common} Version beta applies."]
    doc.write_text(versions[0])
    resources.ingestor.ingest([folder], "c")
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            hits = [h for h in resources.retriever.retrieve(common) if h.document.path == str(doc)]
            seen.append(len({h.document.id for h in hits}))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 13):
            doc.write_text(versions[i % 2])
            assert resources.ingestor.ingest([folder], "c").changed == [str(doc)]
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {1}  # never both, never neither
    assert resources.store.counts()["documents"] == 1


def test_cli_forget_deletes_the_inbox_copy_and_prints_the_receipt(
    resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = resources.settings
    inbox = settings.inbox_dir / "hr"
    inbox.mkdir(parents=True)
    doc = inbox / "jane.txt"
    doc.write_text(SECRET)
    resources.ingestor.ingest([inbox], "hr")

    run_forget(resources, settings, (str(doc),), keep_file=False)

    out = capsys.readouterr().err
    assert not doc.exists()
    assert "erasure receipt #1" in out and "forgot 1 path(s)" in out
    with pytest.raises(NotFound, match="nothing indexed"):
        run_forget(resources, settings, (str(doc),), keep_file=False)
