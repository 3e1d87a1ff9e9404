"""The relevance gate's tables: how many questions each threshold refuses, of each kind.

The gate refuses a question when the best cosine among its candidates is below the
threshold: MiniLM's cosine against ``min_score``, or, for an Arabic question with the
multilingual index on, the multilingual cosine against ``min_score_multilingual``
(retrieval/retriever.py ``admits``). Each kind of evidence gets its own grid; the
grid of MiniLM's cosine counts English questions by that cosine alone, not the Arabic
passages that may let one through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.eval import metrics as m
from assistant.eval.scores import GateScores
from assistant.retrieval.coverage import CoverageGate

#: Thresholds at which the gate's trade-off is tabulated in the report.
GATE_GRID = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
#: The same for the multilingual gate of Arabic questions (USE cosines run lower).
GATE_GRID_MULTILINGUAL = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
#: Coverage gates tabulated with it: (min_coverage, weak_score, weak_coverage).
COVERAGE_GRID = (
    (0.0, 0.0, 0.0),
    (0.5, 0.0, 0.0),
    (0.7, 0.0, 0.0),
    (0.5, 0.45, 0.7),
    (0.5, 0.5, 0.7),
)

#: One question's evidence: (gated on the multilingual cosine?, answerable?, best cosine,
#: refused by the gate as set: ``Retriever.admits``, which also lets an English question
#: through on an Arabic passage's multilingual cosine).
Evidence = tuple[bool, bool, float, bool]


def _share_below(values: Sequence[float], t: float) -> float:
    return m.mean([1.0 if v < t else 0.0 for v in values])


def gate_scores(
    evidence: Sequence[Evidence],
    min_score: float,
    min_score_multilingual: float | None,
    refused: Mapping[CoverageGate, tuple[list[float], list[float]]],
) -> GateScores:
    """The gate as set (each question by its own rule), its grids, and the coverage grid
    (``refused``: per coverage gate, 0/1 refusals of the unanswerable and answerable ones)."""
    t, t_ml = min_score, min_score_multilingual
    unans = [v for ml, a, v, _ in evidence if not ml and not a]
    ans = [v for ml, a, v, _ in evidence if not ml and a]
    ml_unans = [v for ml, a, v, _ in evidence if ml and not a]
    ml_ans = [v for ml, a, v, _ in evidence if ml and a]
    t_ml_or_t = t if t_ml is None else t_ml
    return GateScores(
        min_score=t,
        refused_unanswerable=m.mean([float(r) for _, a, _, r in evidence if not a]),
        refused_answerable=m.mean([float(r) for _, a, _, r in evidence if a]),
        grid=[(g, _share_below(unans, g), _share_below(ans, g)) for g in sorted({*GATE_GRID, t})],
        coverage_grid=sorted(
            (g.min_coverage, g.weak_score, g.weak_coverage, m.mean(u), m.mean(a))
            for g, (u, a) in refused.items()
        ),
        min_score_multilingual=t_ml,
        grid_multilingual=[
            (g, _share_below(ml_unans, g), _share_below(ml_ans, g))
            for g in sorted({*GATE_GRID_MULTILINGUAL, t_ml_or_t})
        ]
        if ml_unans or ml_ans
        else [],
    )
