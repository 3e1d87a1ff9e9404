"""Arabic files keep their text: HTML, DOCX, a PDF printed by Chromium (shaped glyphs drawn
left to right, a line that mixes scripts, a paragraph over several lines, an English page),
and a scan read by tesseract with Debian's Arabic data. The fixtures are made by
tests/data/arabic/make_fixtures.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.domain import Chunk
from assistant.resources import Resources
from ingest.parsing.parse import ParseOptions, ocr_languages, parse_file
from ingest.parsing.rtl_pdf import plain_letters, reading_order

FIXTURES = Path(__file__).parent / "data" / "arabic"
#: The texts the fixtures were made from (make_fixtures.py writes them beside them).
TEXTS = json.loads((FIXTURES / "texts.json").read_text("utf-8"))
TITLE, PARAGRAPHS, LONG = TEXTS["title"], TEXTS["paragraphs"], TEXTS["long"]
ENGLISH, TRANSLATION = TEXTS["english"], TEXTS["translation"]

needs_arabic_ocr = pytest.mark.skipif(
    shutil.which("tesseract") is None or "ara" not in ocr_languages("tesseract"),
    reason="tesseract or its Arabic data missing (make system-deps: tesseract-ocr-ara)",
)


def _text(res: Resources, path: Path) -> tuple[str, list[Chunk]]:
    entry = res.store.path_entry(str(path))
    assert entry is not None, f"{path.name} was not ingested"
    ids, _ = res.store.all_vectors(res.embedder.dim)
    rows = res.store.chunks_for_vids([int(i) for i in ids])
    chunks = sorted((c for c, d in rows.values() if d.id == entry.doc_id), key=lambda c: c.ordinal)
    return " ".join(c.text for c in chunks), chunks


def _no_shaped_glyphs(text: str) -> None:
    shaped = [c for c in text if "\ufb50" <= c <= "\ufdff" or "\ufe70" <= c <= "\ufefc"]
    assert not shaped, f"presentation forms left: {shaped[:5]}"


def test_arabic_html_docx_and_pdf_keep_their_text(resources: Resources, tmp_path: Path) -> None:
    docs = tmp_path / "ar"
    docs.mkdir()
    for name in ("policy.html", "policy.docx", "policy.pdf"):
        shutil.copy(FIXTURES / name, docs / name)
    report = resources.ingestor.ingest([docs], "ar")
    assert not report.quarantined, report.quarantined
    for name in ("policy.html", "policy.docx", "policy.pdf"):
        text, chunks = _text(resources, docs / name)
        for paragraph in PARAGRAPHS:  # in reading order, letters not glyphs, the mixed line whole
            assert paragraph in text, (name, text)
        _no_shaped_glyphs(text)
        entry = resources.store.path_entry(str(docs / name))
        assert entry is not None
        document = resources.store.document(entry.doc_id)
        assert document is not None and document.title == TITLE
    text, chunks = _text(resources, docs / "policy.pdf")
    assert LONG in text  # its three lines, one paragraph, in order
    assert {c.page for c in chunks if "help desk" in c.text} == {2}
    assert ENGLISH in text and TRANSLATION in text  # each line in its own direction
    # Arabic-Indic digits in the document, Western ones in the question, and the reverse
    lexical = resources.retriever.search("النموذج رقم 45").ranked("lexical")
    rows = resources.store.chunks_for_vids(lexical[:1])
    assert lexical and "٤٥" in rows[lexical[0]][0].text


def test_visual_order_and_presentation_forms_are_undone() -> None:
    # as pdfminer reads a Chromium PDF: drawn left to right, in shaped glyphs
    drawn = ".ﺪﻌﺑ ﻦﻋ ﻞﻤﻌﻟا ءﺪﺑ ﻦﻣ مﺎﻳأ ١٠ ﻞﺒﻗ ﺔﻳﺮﺸﺒﻟا دراﻮﻤﻟا ةرادإ ﱃإ ٤٥ ﻢﻗر جذﻮﻤﻨﻟا ﻢﻳﺪﻘﺗ ﺐﺠﻳ"
    assert reading_order(drawn, rtl=True) == PARAGRAPHS[1]
    assert reading_order("Version 2.1 (2024)", rtl=False) == "Version 2.1 (2024)"
    assert plain_letters("\u200eVPN\u200f ﻷ") == "VPN لأ"  # a lam-alef ligature, in order


def test_an_arabic_pdf_parsed_in_windows_is_the_same(tmp_path: Path) -> None:
    """A long PDF is parsed window by window (pdf_windows.py): same text, same pages."""
    from ingest.parsing.pdf_windows import PagedPdf, parse_paged, parse_window

    path = FIXTURES / "policy.pdf"
    whole = parse_file(path)
    options = ParseOptions(pdf_window_pages=1)
    paged = parse_paged(
        path,
        PagedPdf(2, whole.mime_type),
        1,
        lambda first, last, ocr: parse_window(path, first, last, options, ocr=ocr),
    )
    assert [(e.text, e.page) for e in paged.elements] == [(e.text, e.page) for e in whole.elements]


@needs_arabic_ocr
def test_a_scanned_arabic_page_is_read_by_tesseract(resources: Resources, tmp_path: Path) -> None:
    docs = tmp_path / "scans"
    docs.mkdir()
    for name in ("scan.png", "scan.pdf"):
        shutil.copy(FIXTURES / name, docs / name)
    report = resources.ingestor.ingest([docs], "ar")
    assert not report.quarantined, report.quarantined
    for name in ("scan.png", "scan.pdf"):
        text, chunks = _text(resources, docs / name)
        assert PARAGRAPHS[0] in text, text  # words in reading order, letters not glyphs
        assert "يستخدم الموظف برنامج VPN عند الاتصال بأنظمة الجهة من المنزل." in text
        assert "\u200e" not in text and "\u200f" not in text  # tesseract's direction marks
        assert all(c.page in (None, 1) for c in chunks)
    hit = resources.retriever.retrieve("الاتصال بأنظمة الجهة من المنزل")[0]
    assert hit.document.path.endswith((".png", ".pdf"))


def test_missing_ocr_language_data_is_named(tmp_path: Path) -> None:
    from assistant.errors import OcrUnavailable
    from ingest.parsing.parse import require_ocr

    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed")
    with pytest.raises(OcrUnavailable) as caught:
        require_ocr(ParseOptions(ocr_languages=("eng", "zzz")), "an image")
    assert "zzz" in str(caught.value) and "tesseract-ocr-zzz" in (caught.value.hint or "")
