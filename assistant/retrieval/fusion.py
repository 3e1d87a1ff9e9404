"""Fusing the dense and the lexical ranking into one.

Two rules live here:

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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


def zscore(dense: Hits, lexical: Hits, cosine: Mapping[int, float]) -> Hits:
    """Sum of per-query z-scores of the dense and lexical lists: (id, fused score), best first.

    ``dense`` and ``lexical`` are each retriever's top list, best first;
    ``cosine`` holds the exact query similarity of every candidate of either list.
    """
    d_mu, d_sigma = standardise([s for _, s in dense])
    l_scores = [s for _, s in lexical]
    l_mu, l_sigma = standardise(l_scores)
    l_floor = min(l_scores, default=0.0)
    lex = dict(lexical)
    fused: dict[int, float] = {}
    for vid in dict.fromkeys([v for v, _ in dense] + [v for v, _ in lexical]):
        cos = cosine.get(vid)
        if cos is None:  # not in the vector index (should not happen): dense floor
            cos = min((s for _, s in dense), default=0.0)
        z_dense = (cos - d_mu) / d_sigma
        z_lex = (lex.get(vid, l_floor) - l_mu) / l_sigma if lexical else 0.0
        fused[vid] = z_dense + z_lex
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


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
