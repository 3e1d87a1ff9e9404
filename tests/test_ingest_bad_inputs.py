"""A corpus of bad inputs, generated here: each gets its outcome, good files beside it still go in.

Real parsers in the real child process, real SQLite and FAISS; OCR is made
unavailable through the ``tesseract_cmd`` setting, not by patching our code.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.answering.generator import EchoGenerator
from assistant.cli.main import cli
from assistant.errors import ParseMemoryLimit, ParseTimeout, ZipBomb
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.parsing.detect import check_zip_bomb
from ingest.parsing.isolate import IsolatedParser
from ingest.parsing.parse import ParseOptions
from tests.conftest import MODELS
from tests.ingest_corpus import ARABIC, LATIN1, bad_corpus, text_pdf


@pytest.fixture
def strict(tmp_path: Path) -> Settings:
    """1 MB size cap and no OCR program."""
    return Settings(
        data_dir=tmp_path / "data",
        models_dir_override=MODELS,
        chunk_size=600,
        max_file_mb=1,
        tesseract_cmd=str(tmp_path / "no-such-tesseract"),
    )


@pytest.fixture
def strict_resources(strict: Settings) -> Iterator[Resources]:
    res = Resources(strict, embedder=HashEmbedder(), generator=EchoGenerator())
    yield res
    res.close()


def test_bad_corpus_each_file_gets_its_outcome_and_good_files_still_go_in(
    strict_resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    expected = bad_corpus(folder)
    (folder / "good.md").write_text("# Canteen\n\nThe canteen serves soup every Tuesday.\n")
    expected["good.md"] = "ok"

    report = strict_resources.ingestor.ingest([folder], "mixed")

    got = {Path(q.path).name: q.code for q in report.quarantined}
    got.update({Path(p).name: "ok" for p in report.added + report.duplicates})
    assert got == expected
    assert os.getpid() and strict_resources.store.counts()["documents"] == sum(
        1 for v in expected.values() if v == "ok"
    )
    by_name = {Path(q.path).name: q for q in report.quarantined}
    assert "OCR not available" in by_name["scan.pdf"].message
    assert "password" in by_name["locked.pdf"].message
    assert "10,002 levels" in by_name["deep.html"].message
    # every reason is on disk as JSON: error class, message, time, hash
    written = {
        Path(e["path"]).name: e
        for e in (
            json.loads(p.read_text())
            for p in strict_resources.settings.quarantine_dir.glob("*.json")
        )
    }
    assert set(written) == set(by_name)
    for entry in written.values():
        assert entry["error"] and entry["message"] and entry["at"]
    assert written["bomb.docx"]["error"] == "ZipBomb" and len(written["bomb.docx"]["sha256"]) == 64


def test_legacy_encodings_are_decoded_and_searchable(resources: Resources, tmp_path: Path) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "arabic.txt").write_bytes(ARABIC.encode("cp1256"))
    (folder / "latin1.txt").write_bytes(LATIN1.encode("latin-1"))
    report = resources.ingestor.ingest([folder], "enc")
    assert len(report.added) == 2 and not report.quarantined
    texts = " ".join(
        c.text for c, _ in resources.store.chunks_for_vids(_all_vids(resources)).values()
    )
    assert "الإجازة السنوية المدفوعة" in texts
    assert "ouvre à midi précise" in texts and "reçoivent" in texts
    hit = resources.retriever.retrieve("La cantine de l'entreprise ouvre à midi précise")[0]
    assert hit.document.path.endswith("latin1.txt")
    hit = resources.retriever.retrieve("يحق لكل موظف ثلاثين يوما من الإجازة السنوية")[0]
    assert hit.document.path.endswith("arabic.txt")


def _all_vids(resources: Resources) -> list[int]:
    ids, _ = resources.store.all_vectors(resources.embedder.dim)
    return [int(i) for i in ids]


def test_unchanged_quarantined_file_is_not_parsed_again_but_a_fixed_one_is_retried(
    resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    bad = folder / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)  # truncated: no %%EOF
    first = resources.ingestor.ingest([folder], "c")
    assert [q.code for q in first.quarantined] == ["corrupt"]
    again = resources.ingestor.ingest([folder], "c")
    assert again.skipped == [str(bad)] and not again.quarantined
    text_pdf(bad, ["The fixed notes say the lift is serviced on Mondays."])
    fixed = resources.ingestor.ingest([folder], "c")
    assert fixed.added == [str(bad)]
    assert not list(resources.settings.quarantine_dir.glob("*.json"))  # entry cleared


def test_status_lists_collections_documents_chunks_and_quarantine_reasons(
    strict: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "ok.txt").write_text("The library opens at nine.")
    (folder / "bad.pdf").write_bytes(os.urandom(2048))
    res = Resources(strict, embedder=HashEmbedder(), generator=EchoGenerator())
    res.ingestor.ingest([folder], "handbooks")
    res.close()
    env = {"ASSISTANT_DATA_DIR": str(strict.data_dir), "ASSISTANT_MODELS_DIR": str(MODELS)}
    out = CliRunner().invoke(cli, ["status"], env=env)
    assert out.exit_code == 0, out.output
    assert "handbooks" in out.output and "1 documents, 1 chunks" in out.output
    assert "bad.pdf" in out.output and "unsupported_format" in out.output


def test_zip_bomb_is_refused_from_declared_sizes(tmp_path: Path) -> None:
    big = zipfile.ZipInfo("word/document.xml")
    big.file_size, big.compress_size = 5 * 1024**3, 5 * 1024**2
    with pytest.raises(ZipBomb, match="over the"):
        check_zip_bomb([big], max_unzipped_bytes=1024**3)
    normal = zipfile.ZipInfo("word/document.xml")
    normal.file_size, normal.compress_size = 2 * 1024**2, 200 * 1024
    check_zip_bomb([normal], max_unzipped_bytes=1024**3)


def test_a_hanging_parse_is_stopped_and_the_next_file_still_parses(tmp_path: Path) -> None:
    slow = tmp_path / "one-paragraph.txt"
    slow.write_text("word " * 200_000)  # one 1 MB paragraph: unstructured takes minutes
    good = tmp_path / "good.txt"
    good.write_text("The archive room is on the second floor.")
    parser = IsolatedParser(ParseOptions(), timeout_s=3, memory_mb=4096)
    try:
        with pytest.raises(ParseTimeout, match="longer than 3 s"):
            parser.parse(slow)
        parser.timeout_s = 120
        assert "archive room" in parser.parse(good).elements[0].text
    finally:
        parser.close()


def test_the_memory_cap_holds_in_the_child_not_in_this_process(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Visitors sign in at the front desk.")
    parser = IsolatedParser(ParseOptions(), timeout_s=120, memory_mb=300)
    try:
        with pytest.raises(ParseMemoryLimit):
            parser.parse(doc)  # importing the parsers alone needs more than 300 MB
    finally:
        parser.close()
    assert os.getpid()  # we are still here
