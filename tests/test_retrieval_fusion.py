"""Fusion rules: reciprocal rank fusion and the per-query z-score fusion the retriever uses."""

from __future__ import annotations

import pytest

from assistant.retrieval.fusion import by_document, first, rrf, standardise, zscore


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(rrf([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [item for item, _ in rrf([[1, 2, 3], [3, 1]])] == [1, 3, 2]


def test_rrf_weights_and_duplicates() -> None:
    # a repeated id counts once, at its first rank
    assert dict(rrf([[7, 7, 8]]))[7] == pytest.approx(1 / 61)
    fused = rrf([[1, 2], [2, 1]], weights=[3.0, 1.0])
    assert fused[0][0] == 1
    with pytest.raises(ValueError):
        rrf([[1], [2]], weights=[1.0])


def test_standardise_never_divides_by_zero() -> None:
    assert standardise([]) == (0.0, 1.0)
    mu, sigma = standardise([2.0, 2.0, 2.0])
    assert mu == 2.0 and sigma > 0


def _ramp(ids: range, top: float, bottom: float) -> list[tuple[int, float]]:
    """A realistic top list: scores falling evenly from ``top`` to ``bottom``."""
    n = len(ids)
    return [(i, top - (top - bottom) * r / (n - 1)) for r, i in enumerate(ids)]


def test_a_standout_lexical_hit_wins_over_an_undistinguished_dense_list() -> None:
    # dense has no standout; BM25 has one clear winner (an exact name), mid-pack for dense
    dense = _ramp(range(1, 31), 0.55, 0.35)
    lexical = [(99, 30.0), *_ramp(range(31, 60), 8.0, 4.0)]
    cosine = {**dict(dense), 99: 0.45, **{i: 0.3 for i in range(31, 60)}}
    assert zscore(dense, lexical, cosine)[0][0] == 99


def test_an_undistinguished_lexical_list_defers_to_a_standout_dense_hit() -> None:
    # a paraphrase: dense is sure of 1; BM25 matched only common words, 1 among them
    dense = [(1, 0.80), *_ramp(range(2, 31), 0.45, 0.35)]
    lexical = [*_ramp(range(2, 31), 6.0, 4.0), (1, 4.5)]
    assert zscore(dense, lexical, dict(dense))[0][0] == 1


def test_naive_rrf_follows_the_weak_list_where_zscore_does_not() -> None:
    """The motivating case: RRF weighs BM25's undistinguished top as much as dense's clear one."""
    dense = [(1, 0.80), *_ramp(range(2, 31), 0.45, 0.35)]
    lexical = _ramp(range(2, 31), 6.0, 4.0)  # 1 shares no word with the question
    by_rrf = [i for i, _ in rrf([[v for v, _ in dense], [v for v, _ in lexical]])]
    assert by_rrf[0] != 1
    assert zscore(dense, lexical, dict(dense))[0][0] == 1


def test_zscore_with_no_lexical_hits_keeps_the_dense_order() -> None:
    dense = [(5, 0.9), (6, 0.7), (7, 0.1)]
    assert [v for v, _ in zscore(dense, [], dict(dense))] == [5, 6, 7]


def test_zscore_candidates_are_the_union_of_both_lists() -> None:
    dense = [(1, 0.6), (2, 0.5)]
    lexical = [(3, 8.0), (1, 2.0)]
    fused = zscore(dense, lexical, {1: 0.6, 2: 0.5, 3: 0.3})
    assert sorted(v for v, _ in fused) == [1, 2, 3]


def test_a_document_matching_in_several_places_outranks_one_lucky_chunk() -> None:
    hits = [(1, 3.0), (2, 2.6), (3, 2.5), (4, 2.4), (5, 0.0)]
    doc_of = {1: "lucky", 2: "page", 3: "page", 4: "page", 5: "other"}
    # page: 2.6 + 0.5·2.5 + 0.25·2.4 = 4.45; lucky: 3.0 + 0.5·0 + 0.25·0 = 3.0
    assert [vid for vid, _ in by_document(hits, doc_of)] == [2, 3, 4, 1, 5]
    # each hit keeps its own score: gates and cuts read the chunk's
    assert dict(by_document(hits, doc_of)) == dict(hits)


def test_by_document_keeps_single_chunk_documents_in_score_order() -> None:
    hits = [(7, 1.0), (8, 0.5), (9, 0.2)]
    assert by_document(hits, {7: "a", 8: "b", 9: "c"}) == hits
    assert by_document(hits, {}) == hits  # unknown documents: each hit its own
    assert by_document([], {}) == []


def test_first_takes_at_most_so_many_chunks_of_one_document() -> None:
    ranked = [1, 2, 3, 4, 5, 6]  # by_document's order: a's chunks, then b's, then c's
    doc_of = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "c"}
    assert first(ranked, doc_of, 3, 0) == [1, 2, 3]  # no limit: one page's first three
    assert first(ranked, doc_of, 3, 1) == [1, 4, 6]  # the best chunk of three documents
    assert first(ranked, doc_of, 3, 2) == [1, 2, 4]
    assert first(ranked, doc_of, 5, 1) == [1, 4, 6]  # fewer documents than k: what there is
    assert first([7, 8], {}, 3, 1) == [7, 8]  # unknown documents: each chunk its own
