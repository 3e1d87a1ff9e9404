"""Long PDFs parsed in page windows, and files parsed in parallel ahead of the ingest loop.

Real parser child processes, real SQLite and FAISS, the hash embedder. The
windowed parse must give the very document a one-piece parse gives; a hang in
one window must quarantine the whole file; a parallel ingest must build the
same index as a sequential one.
"""

from __future__ import annotations

import io
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.parsing.isolate import IsolatedParser
from ingest.parsing.parse import ParseOptions, parse_file
from ingest.parsing.pdf_windows import windows
from ingest.parsing.pool import ParserPool
from ingest.pipeline import Ingestor
from tests.conftest import MODELS, SAMPLE
from tests.ingest_corpus import image_only_pdf

WORDS = (
    "leave payroll badge canteen parking invoice travel laptop password backup contract "
    "holiday training safety visitor archive printer budget audit meeting"
).split()
WINDOW = 2


def long_pdf(path: Path, pages: int, *, seed: int = 0, slow_page: int | None = None) -> Path:
    """A PDF of ``pages`` pages: a heading, paragraphs and a page-number footer on each.

    ``slow_page`` gets 3,000 scattered words instead: pdfminer's layout analysis of
    so many separate boxes takes minutes (it is quadratic or worse), a real hang."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for page in range(1, pages + 1):
        if page == slow_page:
            c.setFont("Helvetica", 4)
            for i in range(3000):
                c.drawString(rng.uniform(10, 580), rng.uniform(10, 830), f"w{i}")
            c.showPage()
            continue
        c.setFont("Helvetica-Bold", 18)
        c.drawString(72, 780, f"Chapter {page} {rng.choice(WORDS).title()}")
        c.setFont("Helvetica", 10)
        y = 750
        for p in range(rng.randint(2, 4)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(30, 70))]
            line = ""
            for word in [*words, f"paragraph {page}.{p}."]:
                if len(line) + len(word) > 90:
                    c.drawString(72, y, line)
                    y, line = y - 13, ""
                line = f"{line} {word}".strip()
            c.drawString(72, y, line)
            y -= 26
        c.drawString(300, 40, str(page))
        c.showPage()
    c.save()
    path.write_bytes(buf.getvalue())
    return path


OPTIONS = ParseOptions(pdf_window_pages=WINDOW)


@pytest.fixture(scope="module")
def pool() -> Iterator[ParserPool]:
    """Two parser processes, shared by this module's tests (each costs seconds of imports)."""
    pool = ParserPool(OPTIONS, timeout_s=180, memory_mb=4096, workers=2)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def one_at_a_time() -> Iterator[IsolatedParser]:
    """One parser process, windows one after the other, no parsing ahead."""
    parser = IsolatedParser(OPTIONS, timeout_s=180, memory_mb=4096)
    yield parser
    parser.close()


def _ingestor(resources: Resources, parser: IsolatedParser | ParserPool) -> Ingestor:
    return Ingestor(
        resources.store,
        resources.index,
        resources.embedder,
        chunk_size=resources.settings.chunk_size,
        quarantine_dir=resources.settings.quarantine_dir,
        max_file_bytes=resources.settings.max_file_mb * 2**20,
        parser=parser,
    )


def test_windows_cover_every_page_once() -> None:
    assert windows(5, 2) == [(1, 2), (3, 4), (5, 5)]
    assert windows(4, 2) == [(1, 2), (3, 4)]
    assert windows(1, 64) == [(1, 1)]
    for pages in range(1, 20):
        covered = [p for a, b in windows(pages, 3) for p in range(a, b + 1)]
        assert covered == list(range(1, pages + 1))


def test_a_pdf_parsed_in_windows_equals_the_one_piece_parse(
    tmp_path: Path, pool: ParserPool, one_at_a_time: IsolatedParser
) -> None:
    for pdf in (long_pdf(tmp_path / "manual.pdf", 7), SAMPLE / "hr-handbook.pdf"):
        whole = parse_file(pdf, ParseOptions(pdf_window_pages=0))
        assert len({e.page for e in whole.elements}) > WINDOW  # several windows
        assert one_at_a_time.parse(pdf) == whole, pdf.name
        assert pool.parse(pdf) == whole, pdf.name  # windows on both workers at once


def test_a_long_scan_is_read_by_ocr_window_by_window(
    tmp_path: Path, pool: ParserPool, one_at_a_time: IsolatedParser
) -> None:
    import pikepdf

    lines = [
        "The archive room opens at nine.",
        "Visitors sign in at the front desk.",
        "The canteen closes on Friday.",
    ]
    scan = pikepdf.new()
    for i, line in enumerate(lines):
        with pikepdf.open(image_only_pdf(tmp_path / f"page{i}.pdf", line)) as page:
            scan.pages.extend(page.pages)
    scan.save(tmp_path / "scan.pdf")
    whole = parse_file(tmp_path / "scan.pdf", ParseOptions(pdf_window_pages=0))
    assert whole.ocr and {e.page for e in whole.elements} == {1, 2, 3}
    assert one_at_a_time.parse(tmp_path / "scan.pdf") == whole
    assert pool.parse(tmp_path / "scan.pdf") == whole


def test_a_hang_in_one_window_quarantines_the_whole_file(
    settings: Settings, tmp_path: Path, pool: ParserPool
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    long_pdf(folder / "hangs.pdf", 5, slow_page=4)  # windows 1-2, 3-4 (hangs), 5
    (folder / "good.md").write_text("# Canteen\n\nThe canteen serves soup every Tuesday.\n")
    resources = Resources(settings, embedder=HashEmbedder())
    try:
        # Both children import the PDF stack first (seconds), under the long timeout.
        assert pool.parse(long_pdf(tmp_path / "warm.pdf", 8)).elements
        pool.timeout_s = 10
        ingestor = _ingestor(resources, pool)
        report = ingestor.ingest([folder], "mixed")
        ingestor.close()
        assert report.added == [str(folder / "good.md")]
        [q] = report.quarantined
        assert (Path(q.path).name, q.code) == ("hangs.pdf", "timeout")
        assert "pages 3-4" in q.message
        assert [d.path for d in resources.store.documents()] == [str(folder / "good.md")]
        assert resources.index.ntotal == resources.store.counts()["chunks"]
    finally:
        pool.timeout_s = 180
        resources.close()


def _folder(root: Path) -> Path:
    folder = root / "inbox"
    shutil.copytree(SAMPLE, folder / "sample")
    (folder / "manuals").mkdir()
    long_pdf(folder / "manuals" / "manual-a.pdf", 9, seed=1)
    long_pdf(folder / "manuals" / "manual-b.pdf", 6, seed=2)
    (folder / "manuals" / "copy-of-a.pdf").write_bytes(
        (folder / "manuals/manual-a.pdf").read_bytes()
    )
    (folder / "notes").mkdir()
    for i in range(6):
        rng = random.Random(i)
        text = " ".join(rng.choice(WORDS) for _ in range(120))
        (folder / "notes" / f"note{i}.md").write_text(f"# Note {i}\n\n{text}.\n")
    (folder / "notes" / "empty.txt").write_text("")
    return folder


def _index(
    settings: Settings, folder: Path, parser: IsolatedParser | ParserPool
) -> tuple[list[Any], ...]:
    resources = Resources(settings, embedder=HashEmbedder())
    try:
        ingestor = _ingestor(resources, parser)
        report = ingestor.ingest([folder], "docs")
        ingestor.close()
        store = resources.store
        vids, _ = store.all_vectors(resources.embedder.dim)
        chunks = store.chunks_for_vids([int(v) for v in vids])
        assert resources.index.ntotal == len(chunks)
        return (
            sorted(report.added),
            sorted(report.duplicates),
            sorted((q.path, q.code) for q in report.quarantined),
            sorted(d.id for d in store.documents()),
            store.chunk_ids(),
            sorted((c.id, c.page, c.section) for c, _ in chunks.values()),
            sorted((e.path, e.doc_id) for e in store.path_entries()),
        )
    finally:
        resources.close()


def test_parallel_ingest_builds_the_same_index_as_a_sequential_one(
    tmp_path: Path, pool: ParserPool, one_at_a_time: IsolatedParser
) -> None:
    folder = _folder(tmp_path)

    def settings(name: str) -> Settings:
        return Settings(data_dir=tmp_path / name, models_dir_override=MODELS, chunk_size=300)

    sequential = _index(settings("sequential"), folder, one_at_a_time)
    parallel = _index(settings("parallel"), folder, pool)  # two children, parsing ahead
    assert parallel == sequential
    added, duplicates, quarantined, docs, chunk_ids = sequential[:5]
    assert len(added) == 13 and len(duplicates) == 1 and len(quarantined) == 1
    assert len(docs) == 13 and len(chunk_ids) > 40


def test_settings_size_the_pool_and_the_windows(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", models_dir_override=MODELS, parse_workers=3, pdf_window_pages=5
    )
    resources = Resources(settings, embedder=HashEmbedder())
    try:
        parser = resources.ingestor.parser
        assert isinstance(parser, ParserPool)
        assert (parser.workers, parser.options.pdf_window_pages) == (3, 5)
    finally:
        resources.close()


def test_idle_parser_processes_exit_and_come_back_on_demand(tmp_path: Path) -> None:
    doc = tmp_path / "memo.txt"
    doc.write_text("The printer on the second floor is out of toner.")
    pool = ParserPool(OPTIONS, timeout_s=180, memory_mb=4096, workers=2, idle_s=0.5)
    try:
        assert "toner" in pool.parse(doc).elements[0].text
        deadline = time.monotonic() + 60
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.running == 0
        assert "toner" in pool.parse(doc).elements[0].text
    finally:
        pool.close()
