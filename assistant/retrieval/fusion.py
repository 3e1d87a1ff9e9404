"""Fusing the dense and the lexical rankings into one.

Three rules live here:

``rrf`` -- reciprocal rank fusion, ``Σ w / (k + rank)``. It ignores scores, so
it cannot tell a retriever that is sure from one that is guessing: on
technical documentation, where questions paraphrase the text, BM25's weak
lists drag naive RRF *below* dense alone.

``zscore`` -- the rule the retriever uses. Each retriever's scores are
standardised against its own top-``depth`` list for this query (z = (s − μ) / σ),
and a candidate's fused score is the sum of its two z-scores: each retriever
votes with how many standard deviations a candidate stands above that
retriever's typical candidate *for this query*. A retriever whose best hit
stands far out (BM25 on an exact name, dense on a clear paraphrase) casts a
large vote for it; one whose best hits sit inside its usual spread -- it
cannot discriminate on this query -- casts small votes either way. The weighting is therefore
chosen per query by each retriever's own score distribution, with the same
equal weights and the same depth for every corpus: nothing is tuned per data set.

A candidate the lexical side did not return gets the lowest score of the
lexical list -- the most it could have scored. Giving it 0 instead (what a
passage sharing no query term scores) punishes a pure paraphrase by many
standard deviations when BM25's list is tight, exactly where dense should
decide. Dense scores are exact cosines for every candidate, because the
retriever reads the vectors of lexical-only hits back from the index.

``language_aware`` -- ``zscore`` over three lists when the multilingual index is on:
MiniLM, the multilingual embedder (USE, Arabic and English in one space) and BM25,
each a weighted z-score vote (``fuse``); the multilingual list, like BM25's, gives a
candidate it did not return its lowest score. A candidate is scored by the mean of the
votes that judge it best (``LANGUAGE_WEIGHTS``): an English passage of an English question
by MiniLM and BM25; an Arabic passage of an Arabic question by the multilingual index and
BM25 (MiniLM's cosines mean nothing for Arabic); a passage in the other language than the
question's by the multilingual index (and BM25 where it returned it), not by lists blind
to that pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Hits = list[tuple[int, float]]

#: The classic RRF constant (Cormack et al. 2009).
RRF_K = 60


def rrf(
    rankings: Sequence[Sequence[int]],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> Hits:
    """Reciprocal rank fusion of ranked id lists: (id, Σ w / (k + rank)), best first."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def standardise(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation of a score list (σ never 0, so z stays finite)."""
    if not scores:
        return 0.0, 1.0
    mu = sum(scores) / len(scores)
    var = sum((s - mu) ** 2 for s in scores) / len(scores)
    return mu, max(math.sqrt(var), 1e-6)


@dataclass(frozen=True, slots=True)
class Vote:
    """One retriever's say in the fusion: its own top list, best first, and its weight.

    ``exact`` holds the retriever's exact score of every candidate of every list (a dense
    index's cosines, read back for candidates it did not return); without it (BM25) a
    candidate it did not return gets the lowest score of its list.
    """

    hits: Hits
    exact: Mapping[int, float] | None = None
    weight: float = 1.0
    #: candidates this vote cannot judge (``fuse(mean=True)``): it abstains on them
    blind: frozenset[int] = frozenset()


def fuse(votes: Sequence[Vote], *, mean: bool = False) -> Hits:
    """Weighted sum of per-query z-scores over the candidates of every list, best first.

    Each vote's scores are standardised against its own list; a vote with no hits, or
    with weight 0, adds nothing (its candidates still take part, scored by the others).
    ``mean``: each candidate's weighted mean over the votes that judge it (not ``blind``
    to it) -- the sum over the same weights when no vote abstains, so the same order.
    """
    candidates = dict.fromkeys(vid for vote in votes for vid, _ in vote.hits)
    fused = dict.fromkeys(candidates, 0.0)
    weights = dict.fromkeys(candidates, 0.0)
    for vote in votes:
        if not vote.hits or vote.weight == 0.0:
            continue
        scores = [s for _, s in vote.hits]
        mu, sigma = standardise(scores)
        floor = min(scores)
        own = vote.exact if vote.exact is not None else dict(vote.hits)
        for vid in candidates:
            if mean and vid in vote.blind:
                continue
            score = own.get(vid)
            fused[vid] += vote.weight * ((floor if score is None else score) - mu) / sigma
            weights[vid] += vote.weight
    if mean:
        fused = {vid: s / weights[vid] if weights[vid] else 0.0 for vid, s in fused.items()}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def zscore(dense: Hits, lexical: Hits, cosine: Mapping[int, float]) -> Hits:
    """Sum of per-query z-scores of the dense and lexical lists: (id, fused score), best first.

    ``dense`` and ``lexical`` are each retriever's top list, best first;
    ``cosine`` holds the exact query similarity of every candidate of either list (one
    missing -- not in the vector index, which should not happen -- gets the dense floor).
    """
    return fuse([Vote(dense, cosine), Vote(lexical)])


#: Votes of (MiniLM, multilingual, lexical) on a passage in the question's own language, by
#: that language (a passage in the other one: the multilingual index's, ``language_aware``).
#: MiniLM knows no Arabic: its cosines for an Arabic question are noise, and its vote only
#: moved the right passage down. Measured on the Arabic set, recall@5 ar / en-ar / ar-en:
#: three equal votes 0.977 / 0.875 / 0.727; MiniLM's vote dropped for Arabic questions
#: 0.966 / 0.875 / 0.909. On English text the multilingual index is the weaker judge and its
#: vote moved right passages down: hybrid recall@5 with it / without it on English passages,
#: HaluEval 0.987 / 0.990, PostgreSQL 0.884 / 0.907, git-docs 0.903 / 0.927 (recall@1 0.957
#: / 0.960, 0.574 / 0.612, 0.552 / 0.558), the Arabic set unchanged (2026-12-06).
#: Every list's candidates stay in the pool either way.
LANGUAGE_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "en": (1.0, 0.0, 1.0),
    "ar": (0.0, 1.0, 1.0),
}


def language_aware(
    dense: Hits,
    multilingual: Hits,
    lexical: Hits,
    cosine: Mapping[int, float],
    weights: tuple[float, float, float],
    other_language: frozenset[int] = frozenset(),
) -> Hits:
    """The three-way fusion: each candidate's weighted mean of MiniLM's, the multilingual
    index's and BM25's z-scores, over the votes that judge it: on a passage in the
    question's language, ``weights`` (``LANGUAGE_WEIGHTS`` by that language).

    A candidate in ``other_language`` than the question's is judged by the multilingual
    index, and by BM25 too where BM25 returned it (a shared code or name): MiniLM's cosine
    of an English question and an Arabic passage is noise, and BM25 cannot match words of
    one language in the other. Scoring such a candidate at those lists' floors, as a sum
    did, buried the right passage of every cross-lingual question the multilingual index
    ranked first. On the Arabic set, the gold document among the passages the model reads
    (``ar`` / ``en-ar`` / ``ar-en``): 81/88, 3/16, 1/11 as a sum; 80/88, 13/16, 9/11 as this
    mean. An English question over English documents is ranked by MiniLM and BM25 alone:
    ``zscore``'s order.

    MiniLM votes with exact cosines (``cosine``), as in ``zscore``. The multilingual index
    votes like BM25, with its own list: a candidate it did not return gets its list's
    lowest score. Reading its exact cosines back instead cost the Arabic questions on
    English notices recall@5 0.909 -> 0.636: MiniLM's candidates of an Arabic question
    (random ones) then take cosines far below the list, which drags the fused list's floor
    down, and ``by_document`` counts a short notice's missing second and third chunks at
    that floor, against long policies that fill all three places.
    """
    w_dense, w_multi, w_lex = weights
    returned = {vid for vid, _ in lexical}
    candidates = frozenset(v for hits in (dense, multilingual, lexical) for v, _ in hits)
    same_language = candidates - other_language
    return fuse(
        [
            Vote(dense, cosine, w_dense, blind=other_language),
            Vote(multilingual, None, w_multi, blind=other_language),  # by the weights
            Vote(multilingual, None, 1.0, blind=same_language),  # always
            Vote(lexical, None, w_lex, blind=other_language - returned),
        ],
        mean=True,
    )


#: A document's score is its best chunk's plus DECAY times its second's plus DECAY² times its
#: third's (``by_document``): a page that matches in several places outranks one lucky chunk.
DOC_DECAY = 0.5
DOC_DEPTH = 3


def by_document(
    hits: Hits, doc_of: Mapping[int, str], *, decay: float = DOC_DECAY, depth: int = DOC_DEPTH
) -> Hits:
    """``hits`` grouped by document: documents best first, each one's chunks best first.

    A document scores ``s1 + decay·s2 + decay²·s3`` over its ``depth`` best chunks in
    ``hits``; a place it has no chunk for counts as the list's lowest score (the most such a
    chunk could have scored, as in ``zscore``). Each hit keeps its own score, so gates
    and cuts that read scores see the chunk's, not the document's. Hits whose document
    is unknown (not in ``doc_of``) are their own document.
    """
    if not hits:
        return []
    floor = min(s for _, s in hits)
    per_doc: dict[str, list[tuple[int, float]]] = {}
    for vid, score in sorted(hits, key=lambda kv: (-kv[1], kv[0])):
        per_doc.setdefault(doc_of.get(vid, f"\x00{vid}"), []).append((vid, score))

    def doc_score(chunks: list[tuple[int, float]]) -> float:
        scores = [s for _, s in chunks[:depth]] + [floor] * (depth - len(chunks[:depth]))
        return sum(s * decay**i for i, s in enumerate(scores))

    ranked = sorted(per_doc.values(), key=lambda cs: (-doc_score(cs), cs[0][0]))
    return [hit for chunks in ranked for hit in chunks]


def first(ranked: Sequence[int], doc_of: Mapping[int, str], k: int, per_document: int) -> list[int]:
    """The first ``k`` of ``ranked`` (``by_document``'s order), at most ``per_document``
    chunks of any one document (0: no limit). ``by_document`` puts a document's chunks
    together, so the top ``k`` are often one long page's: on the PostgreSQL set the gold
    page reached the model for 0.62 of the questions, 0.83 with one chunk per document, and
    a cross-lingual question's document, seldom first, was left behind the first. The
    other documents also bring near misses to unanswerable questions (CHANGELOG.md)."""
    if per_document <= 0:
        return list(ranked[:k])
    top: list[int] = []
    taken: dict[str, int] = {}
    for vid in ranked:
        doc = doc_of.get(vid, f"\x00{vid}")
        if taken.get(doc, 0) >= per_document:
            continue
        taken[doc] = taken.get(doc, 0) + 1
        top.append(vid)
        if len(top) == k:
            break
    return top
