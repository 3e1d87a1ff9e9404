"""The hybrid retriever on a real store and index: modes, the relevance gate, access control
on both sides, and exact cosines for lexical-only hits (hash embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.resources import Resources
from assistant.retrieval.retriever import Retriever


@pytest.fixture
def corpus(resources: Resources, tmp_path: Path) -> Resources:
    hr, it = tmp_path / "hr", tmp_path / "it"
    hr.mkdir()
    it.mkdir()
    (hr / "leave.txt").write_text(
        "Full-time employees get 27 days of paid annual leave each year.\n", "utf-8"
    )
    (hr / "parking.txt").write_text("Staff park in the north car park behind reception.\n", "utf-8")
    (it / "vpn.txt").write_text(
        "Connect to the VPN with the client KX-77 before opening the intranet.\n", "utf-8"
    )
    resources.ingestor.ingest([hr], "hr")
    resources.ingestor.ingest([it], "it")
    return resources


def _names(retriever: Retriever, hits: list[int]) -> list[str]:
    rows = retriever.store.chunks_for_vids(hits)
    return [Path(rows[v][1].path).name for v in hits if v in rows]


def test_one_search_gives_three_rankings_over_one_candidate_pool(corpus: Resources) -> None:
    retriever = corpus.retriever
    found = retriever.search("How many days of annual leave do employees get?")
    assert _names(retriever, found.ranked("hybrid"))[0] == "leave.txt"
    assert _names(retriever, found.ranked("dense"))[0] == "leave.txt"
    assert _names(retriever, found.ranked("lexical"))[0] == "leave.txt"
    pool = set(found.ranked("dense")) | set(found.ranked("lexical"))
    assert set(found.ranked("hybrid")) == pool
    assert set(found.cosine) == pool  # every candidate has its exact cosine


def test_a_lexical_only_hit_gets_its_exact_cosine(corpus: Resources) -> None:
    retriever = corpus.retriever
    query = retriever.embed_query("KX-77")
    found = retriever.search("KX-77", query_vector=query)
    vid = found.ranked("lexical")[0]
    vec = retriever.index.vectors([vid])[vid]
    assert found.cosine[vid] == pytest.approx(float(vec @ query), abs=1e-6)


def test_retrieve_returns_top_k_with_cosine_scores(corpus: Resources) -> None:
    hits = corpus.retriever.retrieve("annual leave days for employees", k=2)
    assert 1 <= len(hits) <= 2
    assert Path(hits[0].document.path).name == "leave.txt"
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_the_gate_refuses_when_nothing_is_close_enough(corpus: Resources) -> None:
    strict = Retriever(corpus.store, corpus.index, corpus.embedder, min_score=0.99)
    assert strict.retrieve("How many days of annual leave do employees get?") == []
    lenient = Retriever(corpus.store, corpus.index, corpus.embedder, min_score=-1.0)
    assert lenient.retrieve("How many days of annual leave do employees get?")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_collections_restrict_dense_and_lexical_alike(corpus: Resources, mode: str) -> None:
    retriever = Retriever(
        corpus.store,
        corpus.index,
        corpus.embedder,
        min_score=-1.0,
        mode=mode,  # type: ignore[arg-type]
    )
    found = retriever.search("VPN client KX-77 intranet", collections=frozenset({"hr"}))
    assert found.ranked("dense"), "the hr documents are still candidates"
    assert "vpn.txt" not in _names(retriever, found.ranked("hybrid"))
    assert "vpn.txt" not in _names(retriever, found.ranked("lexical"))
    hits = retriever.retrieve("VPN client KX-77", collections=frozenset({"it"}))
    assert {Path(h.document.path).name for h in hits} == {"vpn.txt"}
    assert retriever.retrieve("VPN client KX-77", collections=frozenset()) == []


def test_passages_far_below_the_best_are_left_out(corpus: Resources) -> None:
    question = "Which client connects to the VPN before the intranet?"

    def retriever(share: float) -> Retriever:
        return Retriever(
            corpus.store, corpus.index, corpus.embedder, min_score=-1.0, min_relative=share
        )

    everything = retriever(0.0).retrieve(question, k=3)
    assert len(everything) == 3
    fused = dict(retriever(0.0).search(question).fused)
    scores = [fused[h.chunk.vector_id] for h in everything]
    assert scores[0] > 0
    for share in (0.3, 0.99, 1.0):
        kept = retriever(share).retrieve(question, k=3)
        assert kept[0].chunk.id == everything[0].chunk.id  # the best one always stays
        expected = [
            h.chunk.id for h, s in zip(everything, scores, strict=True) if s >= share * scores[0]
        ]
        assert [h.chunk.id for h in kept] == expected
    assert len(retriever(1.0).retrieve(question, k=3)) < 3 or len(set(scores)) == 1


def test_the_model_gets_the_best_chunk_of_each_top_document(
    resources: Resources, tmp_path: Path
) -> None:
    """A long page that matches everywhere no longer fills the top k by itself: the second
    document, ranked below all of its chunks, reaches the model too."""
    docs = tmp_path / "docs"
    docs.mkdir()
    long_page = "\n\n".join(
        f"Section {n}. The leave policy explains annual leave rules, part {n}, in detail."
        + " Filler words about procedures." * 30
        for n in range(8)
    )
    (docs / "handbook.txt").write_text(long_page, "utf-8")
    (docs / "carry.txt").write_text("Annual leave: up to 10 days may be carried over.\n", "utf-8")
    resources.ingestor.ingest([docs], "hr")
    question = "annual leave policy rules"

    def names(per_document: int) -> list[str]:
        retriever = Retriever(
            resources.store, resources.index, resources.embedder, min_score=-1.0,
            per_document=per_document,
        )  # fmt: skip
        return [Path(h.document.path).name for h in retriever.retrieve(question, k=3)]

    assert names(0) == ["handbook.txt"] * 3  # grouped by document: one page's chunks
    assert names(1) == ["handbook.txt", "carry.txt"]
    assert resources.settings.max_chunks_per_document == 0  # off by default (CHANGELOG.md)
    assert resources.retriever.per_document == 0
