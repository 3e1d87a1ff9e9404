"""The Arabic eval set (issue 15): its counts, its gold answers, its Markdown reader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from assistant.eval import build
from assistant.eval.corpus import MarkdownParser
from assistant.eval.dataset import load_dataset
from assistant.eval.docs import INTRO
from assistant.eval.metrics import contains_answer
from assistant.eval.standard import SAMPLES, by_kind
from assistant.text.arabic import has_arabic

CORPUS = build.ARABIC_CORPUS
ITEMS = load_dataset(build.ARABIC_QUESTIONS)
KINDS = {"ar", "en-ar", "ar-en", "unanswerable"}


def test_counts_per_kind() -> None:
    kinds = Counter(i.kind for i in ITEMS)
    assert set(kinds) == KINDS
    assert kinds["ar"] >= 50 and kinds["en-ar"] >= 12 and kinds["ar-en"] >= 8
    assert kinds["unanswerable"] >= 16 and len(ITEMS) >= 90
    docs = sorted(CORPUS.glob("*.md"))
    arabic = [d for d in docs if has_arabic(d.read_text(encoding="utf-8"))]
    assert len(arabic) >= 22 and len(docs) - len(arabic) >= 5
    # the doc's description of the set names these counts
    assert f"{len(arabic)} Arabic" in INTRO and f"{len(ITEMS)} questions" in INTRO
    for said in (
        f"{kinds['ar']} Arabic ones on the Arabic",
        f"{kinds['en-ar']} English ones on the Arabic",
        f"{kinds['ar-en']} Arabic ones on the English",
        f"{kinds['unanswerable']} **unanswerable**",
    ):
        assert said in " ".join(INTRO.split()), said


def test_kinds_match_languages_and_gold() -> None:
    for item in ITEMS:
        assert item.answerable == (item.kind != "unanswerable"), item.question
        assert item.answerable == bool(item.answers), item.question
        english_gold = all(g.startswith("en-") for g in item.gold)
        if item.kind == "ar":
            assert has_arabic(item.question) and not english_gold
        elif item.kind == "en-ar":
            assert not has_arabic(item.question) and not english_gold
        elif item.kind == "ar-en":
            assert has_arabic(item.question) and english_gold


def test_every_gold_file_holds_an_answer() -> None:
    """By the eval's own containment check (normalised; Arabic-Indic digits not folded)."""
    for item in ITEMS:
        for gold in item.gold:
            path = CORPUS / gold
            assert path.is_file(), gold
            assert contains_answer(path.read_text(encoding="utf-8"), item.answers), item.question


def test_no_duplicate_questions() -> None:
    rows = [json.loads(line) for line in build.ARABIC_QUESTIONS.read_text("utf-8").splitlines()]
    assert len({r["question"] for r in rows}) == len(rows)


def test_arabic_punctuation_and_digits_in_answers() -> None:
    assert contains_answer("بدل السكن ٢٥٪ من الراتب الأساسي", ["25", "٢٥"])
    assert contains_answer("يُعامل بوصفه «مقيد»، إلى أن يُصنف", ["مقيد"])
    assert contains_answer("الحد الأعلى ١٬٠٠٠ ريال", ["1,000", "١٠٠٠"])
    assert not contains_answer("٣٠ يوماً", ["30"])  # digits are not folded: list both


def test_markdown_parser_titles_lists_tables_text() -> None:
    doc = MarkdownParser().parse(CORPUS / "travel-per-diem.md")
    assert doc.title == "لائحة السفر والانتداب والبدل اليومي"
    assert doc.mime_type == "text/markdown"
    kinds = Counter(e.kind for e in doc.elements)
    assert kinds["title"] >= 5 and kinds["text"] >= 3 and kinds["list"] >= 5
    tables = [e.text for e in doc.elements if e.kind == "table"]
    assert "المراتب من 11 إلى 15 | 600 | 1,200" in tables
    assert not any("---" in t for t in tables)  # the rule under the header row is left out
    assert all("**" not in e.text and "#" not in e.text for e in doc.elements)


def test_markdown_parser_paragraphs_and_non_markdown(tmp_path: Path) -> None:
    md = tmp_path / "note.md"
    md.write_text("intro line\n\n# Title\n\nfirst line\nsame paragraph\n\n1. one\n", "utf-8")
    doc = MarkdownParser().parse(md)
    assert [(e.kind, e.text) for e in doc.elements] == [
        ("text", "intro line"),
        ("title", "Title"),
        ("text", "first line same paragraph"),
        ("list", "one"),
    ]
    assert doc.title == "Title"
    txt = tmp_path / "plain.txt"
    txt.write_text("# not a heading here", "utf-8")
    assert MarkdownParser().parse(txt).elements[0].kind == "text"


def test_wired_into_the_standard_eval() -> None:
    es = build.arabic_set()
    assert es.name == "arabic" and es.corpus.is_dir() and es.dataset.is_file()
    assert isinstance(build.parser_for(es.parser), MarkdownParser)
    assert SAMPLES["arabic"] == (30, 10)
    parts = by_kind("arabic", ITEMS)
    assert set(parts) == {
        "arabic (ar)",
        "arabic (en-ar)",
        "arabic (ar-en)",
        "arabic (cross-lingual)",
    }
    assert all(i.answerable for part in parts.values() for i in part)
    assert len(parts["arabic (cross-lingual)"]) == len(parts["arabic (en-ar)"]) + len(
        parts["arabic (ar-en)"]
    )
    assert by_kind("postgres-docs", ITEMS) == {}
