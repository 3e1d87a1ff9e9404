"""The in-memory postings: FTS5's exact BM25 ranking, and never a stale answer
(real SQLite + FTS5 under tmp_path, the real Ingestor, a hash embedder)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from assistant.resources import Resources
from assistant.retrieval import lexical, postings
from assistant.text.analysis import query_terms

WORDS = [f"w{i:03d}" for i in range(400)]


def _corpus(folder: Path, files: int = 40, seed: int = 3) -> Path:
    """Files of Zipf-like words (common and rare ones, repeated in some rows) plus real prose."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    for n in range(files):
        paragraphs = [
            " ".join(rng.choices(WORDS, weights, k=rng.randint(20, 90))) + "."
            for _ in range(rng.randint(1, 4))
        ]
        (folder / f"f{n:02d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    (folder / "menu.txt").write_text("Café opens at eight; the cafe in block B at nine.", "utf-8")
    (folder / "resume.txt").write_text("Send a résumé and a cover letter.", "utf-8")
    (folder / "library.txt").write_text("تُغْلَقُ الْمَكْتَبَةُ يَوْمَ الْجُمُعَةِ", "utf-8")
    (folder / "policy.txt").write_text(
        "Vacation requests go to your manager two weeks ahead. Contractors ask the agency.",
        encoding="utf-8",
    )
    return folder


def _fts(resources: Resources, question: str, k: int = 10) -> list[tuple[int, float]]:
    return lexical.search(resources.store, question, k, max_postings=None, memory_min_rows=None)


def _same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [v for v, _ in a] == [v for v, _ in b] and [s for _, s in a] == pytest.approx(
        [s for _, s in b], rel=1e-4
    )


QUESTIONS = [
    "w001 w017 w250",
    "w399 w398",
    "w000 w001 w002 w003 w004 w005 w006 w007",
    "vacation requests for contractors",
    "w120 vacation w033",
    "cafe",
    "café opening",
    "resume letter",
    "متى تغلق المكتبة",
]


def test_memory_ranking_is_fts5_bm25(resources: Resources, tmp_path: Path) -> None:
    resources.ingestor.ingest([_corpus(tmp_path / "docs")], "c")
    built = postings.build(resources.store.path)
    assert len(built.vids) == resources.store.counts()["chunks"]
    assert lexical._large(resources.store, len(built.vids))
    assert not lexical._large(resources.store, len(built.vids) + 1)
    for question in QUESTIONS:
        fts = _fts(resources, question)
        mine = built.search(query_terms(question), 10)
        assert fts, question
        assert mine is not None, question
        assert _same(mine, fts), question


def test_a_stale_copy_never_answers(resources: Resources, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs", files=10)
    resources.ingestor.ingest([docs], "c")
    store = resources.store
    cache = lexical.postings_cache(store)
    assert cache.refresh(wait=True) is not None
    question = "vacation requests for contractors"

    def memory() -> list[tuple[int, float]]:
        return lexical.search(store, question, 10, memory_min_rows=0)

    assert _same(memory(), _fts(resources, question))  # the copy is current: it answers
    policy = docs / "policy.txt"
    erased = {vid for vid, _ in _fts(resources, "vacation")}
    resources.ingestor.forget([str(policy.resolve())])
    # the store moved on: the copy is stale, so FTS5 answers at once (without the erased rows)
    assert cache.current(store.generation()) is None
    assert not {vid for vid, _ in memory()} & erased
    assert cache._building is not None and not cache._building.is_alive()  # pause: no rebuild
    # ... and the rebuilt copy, of the new generation, agrees
    rebuilt = cache.refresh(wait=True)
    assert rebuilt is not None and rebuilt.generation == store.generation()
    assert not set(rebuilt.vids.tolist()) & erased
    assert rebuilt.search(query_terms("vacation"), 10) == []
    assert rebuilt.search(["a\u0301b"], 10) is None  # a phrase to FTS5: it answers that one

    (docs / "new.txt").write_text("Vacation for contractors is agreed by the agency.", "utf-8")
    resources.ingestor.ingest([docs], "c")
    assert _same(memory(), _fts(resources, question))
    cache.refresh(wait=True)
    assert _same(memory(), _fts(resources, question))
    assert memory()


def test_small_stores_stay_on_fts5(resources: Resources, tmp_path: Path) -> None:
    resources.ingestor.ingest([_corpus(tmp_path / "docs", files=5)], "c")
    assert lexical.search(resources.store, "w001", 5)
    cache = lexical.postings_cache(resources.store)
    assert cache._current is None and cache._building is None  # no copy below the threshold


def test_an_empty_store_builds_an_empty_copy(resources: Resources) -> None:
    built = postings.build(resources.store.path)
    assert len(built.vids) == 0
    assert built.search(["anything"], 5) == []
