"""Every supported format, generated here, goes in with its page and section; OCR reads scans."""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.answering.generator import EchoGenerator
from assistant.domain import Chunk
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.conftest import MODELS
from tests.ingest_corpus import docx, image_only_pdf, text_image, text_pdf

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract not installed (make system-deps)"
)


def _chunks(resources: Resources, path: Path) -> list[Chunk]:
    entry = resources.store.path_entry(str(path))
    assert entry is not None, f"{path.name} was not ingested"
    ids, _ = resources.store.all_vectors(resources.embedder.dim)
    rows = resources.store.chunks_for_vids([int(i) for i in ids])
    return sorted((c for c, d in rows.values() if d.id == entry.doc_id), key=lambda c: c.ordinal)


def _pptx(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body in (("Kick-off", "The project starts in May."), ("Budget", "We spend 40k.")):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))
    return path


def _xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Rates"
    sheet.append(["City", "Daily allowance"])
    sheet.append(["Lyon", "52 EUR"])
    book.save(path)
    return path


def _eml(path: Path) -> Path:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "it@example.org", "all@example.org", "Outage"
    msg.set_content("The mail server will be down on Saturday from six to eight.")
    path.write_bytes(msg.as_bytes())
    return path


def test_office_web_text_and_mail_formats_keep_page_and_section(
    resources: Resources, tmp_path: Path
) -> None:
    d = tmp_path / "formats"
    d.mkdir()
    pdf = text_pdf(d / "guide.pdf", ["Page one is about badges.", "Page two says lockers close."])
    files = {
        pdf: "lockers close",
        docx(d / "policy.docx", "Remote Work", ["Staff may work from home twice a week."]): "twice",
        _pptx(d / "deck.pptx"): "starts in May",
        _xlsx(d / "rates.xlsx"): "52 EUR",
        _eml(d / "outage.eml"): "mail server will be down",
    }
    html = d / "page.html"
    html.write_text("<html><body><h1>Fire drill</h1><p>The drill is on Monday.</p></body></html>")
    md = d / "notes.md"
    md.write_text("# Kitchen\n\nThe fridge is emptied on Fridays.\n")
    txt = d / "plain.txt"
    txt.write_text("Bicycles are parked in the yard.")
    files.update({html: "drill is on Monday", md: "fridge is emptied", txt: "Bicycles"})

    report = resources.ingestor.ingest([d], "formats")

    assert not report.quarantined, report.quarantined
    for path, phrase in files.items():
        assert any(phrase in c.text for c in _chunks(resources, path)), path.name
    assert {c.page for c in _chunks(resources, pdf) if "lockers" in c.text} == {2}
    assert {c.section for c in _chunks(resources, d / "policy.docx")} == {"Remote Work"}
    assert {c.section for c in _chunks(resources, d / "rates.xlsx")} == {"Rates"}
    assert {c.page for c in _chunks(resources, d / "deck.pptx") if "40k" in c.text} == {2}
    assert {c.section for c in _chunks(resources, html)} == {"Fire drill"}


@needs_tesseract
def test_ocr_reads_images_and_scanned_pdfs(resources: Resources, tmp_path: Path) -> None:
    d = tmp_path / "scans"
    d.mkdir()
    sentence = "The visitor badge must be returned at the gate."
    text_image(sentence).save(d / "memo.png")
    text_image(sentence).convert("L").save(d / "memo.tiff")
    text_image("Lunch vouchers are handed out on Monday.").save(d / "lunch.jpg", quality=95)
    image_only_pdf(d / "scan.pdf", "The scanned memo says the canteen closes on Friday.")

    report = resources.ingestor.ingest([d], "scans")

    assert not report.quarantined, report.quarantined
    assert len(report.added) + len(report.duplicates) == 4
    png = " ".join(c.text for c in _chunks(resources, d / "memo.png"))
    assert "visitor badge must be returned" in png
    jpg = " ".join(c.text for c in _chunks(resources, d / "lunch.jpg"))
    assert "Lunch vouchers" in jpg
    scan = _chunks(resources, d / "scan.pdf")
    assert "canteen closes on Friday" in " ".join(c.text for c in scan)
    assert {c.page for c in scan} == {1}
    hit = resources.retriever.retrieve("When does the canteen close?")[0]
    assert hit.document.path.endswith("scan.pdf")


def test_without_tesseract_images_are_quarantined_as_ocr_not_available(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        models_dir_override=MODELS,
        tesseract_cmd=str(tmp_path / "absent" / "tesseract"),
    )
    res = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        d = tmp_path / "img"
        d.mkdir()
        text_image("Nothing to read without OCR.").save(d / "note.png")
        report = res.ingestor.ingest([d], "c")
    finally:
        res.close()
    [q] = report.quarantined
    assert q.code == "ocr_unavailable" and q.message.startswith("OCR not available")
