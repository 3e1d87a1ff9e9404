"""The lexical side: Arabic normalisation, the analyser, safe FTS5 queries, and staying in
step with ingest and erasure (real SQLite, FTS5 and FAISS under tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.resources import Resources
from assistant.retrieval import lexical
from assistant.text.analysis import (
    ANALYSER_VERSION,
    analyse,
    index_text,
    match_expression,
    query_terms,
)
from assistant.text.arabic import light_stem, normalize_arabic


def test_arabic_diacritics_and_tatweel_are_stripped() -> None:
    assert normalize_arabic("الْكِتَابُ") == "الكتاب"  # tashkeel
    assert normalize_arabic("كتـــاب") == "كتاب"  # tatweel
    assert normalize_arabic("مُدَرِّسَةٌ") == "مدرسه"  # shadda, tanwin; ta marbuta


@pytest.mark.parametrize(
    ("written", "unified"),
    [
        ("أحمد", "احمد"),  # alef with hamza above
        ("إسلام", "اسلام"),  # alef with hamza below
        ("آمن", "امن"),  # alef with madda
        ("ٱلله", "الله"),  # alef wasla
        ("مستشفى", "مستشفي"),  # alef maksura -> ya
        ("مدرسة", "مدرسه"),  # ta marbuta -> ha
    ],
)
def test_arabic_letter_forms_are_unified(written: str, unified: str) -> None:
    assert normalize_arabic(written) == unified


def test_non_arabic_text_is_untouched() -> None:
    assert normalize_arabic("Café naïve 42") == "Café naïve 42"


def test_definite_article_is_dropped_only_with_a_real_stem_left() -> None:
    assert light_stem("المكتبه") == "مكتبه"
    assert light_stem("والمكتبه") == "مكتبه"
    assert light_stem("الي") == "الي"  # too short to be article + word


def test_analyser_stems_english_and_splits_identifiers() -> None:
    assert analyse("Vacuuming tables") == ["vacuum", "tabl"]
    words = analyse("set work_mem")
    assert {"work", "mem", "workmem"} <= set(words)
    # the same word written with and without Arabic marks analyses the same
    assert analyse("الْمَكْتَبَةُ") == analyse("مكتبة") == analyse("المكتبه")


def test_query_terms_drop_stopwords_unless_nothing_else_is_left() -> None:
    assert query_terms("How do I vacuum a table?") == ["vacuum", "tabl"]
    assert query_terms("what is it") == ["what", "is", "it"]


@pytest.mark.parametrize(
    "hostile",
    [
        'say "hello',
        "NEAR(a b) OR AND NOT",
        "col:value ^start * -minus +plus",
        "a) (b",
        '"""',
        "{braces} [brackets] 'quotes'",
        "SELECT * FROM chunks; --",
        "\x00\x01 control",
        "",
        "   ",
        "?!.,;:",
    ],
)
def test_hostile_text_never_raises_an_fts5_error(resources: Resources, hostile: str) -> None:
    expression = match_expression(hostile)
    if expression is not None:
        assert expression.count('"') % 2 == 0
    assert lexical.search(resources.store, hostile, 5) == []  # empty store, but valid syntax
    assert isinstance(resources.retriever.search(hostile or "x").fused, list)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_arabic_document_is_found_whatever_the_spelling(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    _write(docs, "library.txt", "تُغْلَقُ الْمَكْتَبَةُ يَوْمَ الْجُمُعَةِ. يفتح المبنى في الثامنة.")
    _write(docs, "parking.txt", "Visitors park in the north car park next to reception.")
    resources.ingestor.ingest([docs], "arabic")
    lexical.ensure_lexical_index(resources.store)
    for query in ("مكتبة", "المكتبة", "متى تغلق المكتبه", "الْمَكْتَبَةُ"):
        hits = lexical.search(resources.store, query, 5)
        rows = resources.store.chunks_for_vids([vid for vid, _ in hits])
        names = [Path(rows[vid][1].path).name for vid, _ in hits if vid in rows]
        assert names[:1] == ["library.txt"], (query, names)


def test_lexical_index_follows_ingest_and_erasure(resources: Resources, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    path = _write(docs, "codes.txt", "The door code for the server room is ZX-4471.")
    resources.ingestor.ingest([docs], "codes")
    assert lexical.search(resources.store, "ZX-4471", 5)
    path.write_text("The server room now opens with a badge only.", encoding="utf-8")
    resources.ingestor.ingest([docs], "codes")  # changed: old rows out, new rows in
    assert lexical.search(resources.store, "ZX-4471", 5) == []
    assert lexical.search(resources.store, "badge", 5)
    resources.ingestor.forget([str(path.resolve())])
    assert lexical.search(resources.store, "badge", 5) == []


def test_rows_written_by_an_older_analyser_are_rewritten(resources: Resources) -> None:
    docs = resources.settings.data_dir.parent / "old"
    _write(docs, "note.txt", "Quarterly figures are published on the intranet.")
    resources.ingestor.ingest([docs], "old")
    with resources.store.transaction() as db:  # as a store from before the analyser held them
        db.execute("UPDATE chunks_fts SET text = 'raw unanalysed text'")
    lexical._checked.discard(str(resources.store.path))
    assert lexical.ensure_lexical_index(resources.store) is True
    with resources.store.transaction() as db:
        row = db.execute(
            "SELECT f.text, c.section, c.text FROM chunks_fts f JOIN chunks c ON c.id = f.chunk_id"
        ).fetchone()
    assert row[0] == index_text(row[1], row[2])
    assert lexical.search(resources.store, "publishing quarterly figures", 5)


def test_arabic_indic_digits_are_read_as_western_ones() -> None:
    assert normalize_arabic("٣٤ يوماً") == "34 يوما"
    assert normalize_arabic("۳۴") == "34"  # the Persian forms too
    assert analyse("٢٠٢٤") == analyse("2024") == ["2024"]
    assert query_terms("كم يوماً؟ ٣٤") == query_terms("كم يوماً؟ 34")


def _names(resources: Resources, query: str) -> list[str]:
    hits = lexical.search(resources.store, query, 5)
    rows = resources.store.chunks_for_vids([vid for vid, _ in hits])
    return [Path(rows[vid][1].path).name for vid, _ in hits if vid in rows]


def test_a_number_is_found_whichever_digits_it_is_written_in(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    _write(docs, "leave.txt", "يحصل الموظف بدوام كامل على ٣٤ يوماً من الإجازة السنوية.")
    _write(docs, "rooms.txt", "رقم غرفة الخوادم هو 4471 في الطابق الثاني.")
    _write(docs, "parking.txt", "Visitors park in the north car park next to reception.")
    resources.ingestor.ingest([docs], "arabic")
    lexical.ensure_lexical_index(resources.store)
    assert _names(resources, "34 يوم")[:1] == ["leave.txt"]
    assert _names(resources, "34") == ["leave.txt"]  # the digits alone match
    assert _names(resources, "٤٤٧١") == ["rooms.txt"]  # and the other way round


def test_an_index_from_before_digits_were_folded_is_rewritten(resources: Resources) -> None:
    docs = resources.settings.data_dir.parent / "old"
    _write(docs, "leave.txt", "يحصل الموظف على ٣٤ يوماً من الإجازة السنوية.")
    resources.ingestor.ingest([docs], "old")
    with resources.store.transaction() as db:  # as version 1 wrote it, with no record
        db.execute("UPDATE chunks_fts SET text = replace(text, '34', '٣٤')")
        db.execute("DELETE FROM meta_text WHERE key = 'analyser'")
    assert _names(resources, "34") == []
    lexical._checked.discard(str(resources.store.path))
    assert lexical.ensure_lexical_index(resources.store) is True
    assert _names(resources, "34") == ["leave.txt"]
    with resources.store.connection() as db:
        recorded = db.execute("SELECT value FROM meta_text WHERE key = 'analyser'").fetchone()
    assert recorded == (ANALYSER_VERSION,)
    lexical._checked.discard(str(resources.store.path))
    assert lexical.ensure_lexical_index(resources.store) is False  # recorded: not again


def test_an_unrecorded_index_without_indic_digits_is_kept(resources: Resources) -> None:
    docs = resources.settings.data_dir.parent / "plain"
    _write(docs, "note.txt", "Quarterly figures are published on the intranet.")
    resources.ingestor.ingest([docs], "plain")
    with resources.store.transaction() as db:
        db.execute("DELETE FROM meta_text WHERE key = 'analyser'")
    lexical._checked.discard(str(resources.store.path))
    assert lexical.ensure_lexical_index(resources.store) is False  # nothing to rewrite
