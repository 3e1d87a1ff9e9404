"""Compact context: the token budget, the best sentence, chunk identity and order."""

from __future__ import annotations

import pytest

from assistant.domain import Chunk, Document, RetrievedChunk
from assistant.models.embed import HashEmbedder
from assistant.retrieval.context import CHARS_PER_TOKEN, compact, sentences

EMBEDDER = HashEmbedder()
DOC = Document("d" * 64, "/docs/policy.md", "Policy", "c", "text/markdown", 1)

FILLER = [
    "The canteen on the ground floor serves lunch from noon.",
    "Bicycles are parked in the basement racks near the lifts.",
    "The quarterly town hall takes place in the main auditorium.",
    "Visitors sign in at reception and wear a badge at all times.",
    "Printers on every floor accept jobs sent from the intranet.",
    "Meeting rooms are booked through the calendar of the building.",
]


def _hit(n: int, text: str, section: str | None = "Rules") -> RetrievedChunk:
    return RetrievedChunk(Chunk(f"{n:064d}", DOC.id, n, text, None, section), DOC, 0.5)


def _query(text: str) -> object:
    return EMBEDDER.embed([text])[0]


def test_chunks_that_fit_the_budget_are_kept_whole_without_embedding() -> None:
    hits = [_hit(1, "Short one. Second sentence."), _hit(2, "Another short chunk.")]

    class Refuses(HashEmbedder):
        def embed(self, texts: object) -> object:  # type: ignore[override]
            raise AssertionError("nothing should be embedded when everything fits")

    assert compact(_query("short"), hits, Refuses(), budget_tokens=350) == hits


@pytest.mark.parametrize("budget_tokens", [20, 40, 80])
def test_the_selection_never_exceeds_the_budget(budget_tokens: int) -> None:
    hits = [_hit(i, " ".join(FILLER)) for i in range(4)]
    kept = compact(_query("where do visitors sign in"), hits, EMBEDDER, budget_tokens=budget_tokens)
    total = sum(len(h.chunk.text) for h in kept)
    assert 0 < total <= budget_tokens * CHARS_PER_TOKEN


def test_the_most_relevant_sentence_is_kept_in_its_own_chunk() -> None:
    answer = "Expense claims are filed with form FIN-3 within thirty days."
    hits = [_hit(1, " ".join(FILLER)), _hit(2, " ".join([*FILLER[:3], answer, *FILLER[3:]]))]
    kept = compact(
        _query("which form files expense claims"), hits, EMBEDDER, budget_tokens=30, margin=0.0
    )
    assert [h.chunk.id for h in kept] == [hits[1].chunk.id]  # [n] still names its chunk
    assert kept[0].chunk.text == answer
    assert kept[0].document == DOC and kept[0].score == hits[1].score


def test_kept_sentences_stay_in_document_order() -> None:
    text = " ".join(FILLER)
    kept = compact(
        _query("visitors badge reception printers intranet"),
        [_hit(1, text)],
        EMBEDDER,
        budget_tokens=60,
        margin=1.0,
    )
    parts = sentences(kept[0].chunk.text)
    assert parts == [s for s in FILLER if s in parts]


def test_a_single_overlong_sentence_is_cut_to_the_budget() -> None:
    table = "id name value " * 200  # no full stop anywhere
    kept = compact(_query("value"), [_hit(1, table)], EMBEDDER, budget_tokens=25)
    assert 0 < len(kept[0].chunk.text) <= 25 * CHARS_PER_TOKEN


def test_no_hits_no_context() -> None:
    assert compact(_query("anything"), [], EMBEDDER, budget_tokens=100) == []
