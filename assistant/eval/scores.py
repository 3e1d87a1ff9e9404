"""What an eval measures: retrieval ranks, the relevance gate, answers; one report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RetrievalScores:
    recall_1: float
    recall_5: float
    recall_10: float
    mrr: float
    ndcg_10: float
    #: questions scored (the answerable ones): the n of each recall share, which is a
    #: share of 0/1 outcomes; None when unknown (a results.json written before it was kept)
    n: int | None = None


@dataclass(slots=True)
class GateScores:
    min_score: float
    refused_unanswerable: float  # share of unanswerable questions the gate refuses
    refused_answerable: float  # share of answerable questions it wrongly refuses
    grid: list[tuple[float, float, float]] = field(default_factory=list)
    #: (min_coverage, weak_score, weak_coverage, unanswerable refused, answerable refused):
    #: the cosine gate at ``min_score`` and the coverage gate (``retrieval.coverage``) together.
    coverage_grid: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    #: With the multilingual index on, Arabic questions are gated on its best cosine against
    #: ``min_score_multilingual``; ``grid`` then counts the other questions, this grid those.
    min_score_multilingual: float | None = None
    grid_multilingual: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class AnswerScores:
    """Shares with their n: ``answerable`` for accuracy and false refusals, ``unanswerable``
    for refusal and unanswerable answered, ``citations`` (passages judged) for citation
    precision."""

    questions: int
    answerable: int
    unanswerable: int
    accuracy: float  # gold answer contained, over answerable questions
    token_f1: float
    citation_precision: float
    citations: int
    refusal_rate: float  # over unanswerable questions
    unanswerable_answered: float  # over unanswerable questions: answered, not refused
    false_refusals: float  # over answerable questions
    ttft_median_s: float
    ttft_p90_s: float
    tokens_per_s: float
    prompt_tokens_mean: float
    seconds: float
    #: of the questions a model answered (the gates refuse the others), the share each model
    #: had the last word on; and the share where a draft model was replaced (draft_model)
    by_model: dict[str, float] = field(default_factory=dict)
    escalated: float = float("nan")


@dataclass(slots=True)
class EvalReport:
    dataset: str
    questions: int
    answerable: int
    unanswerable: int
    unresolved_gold: int  # answerable questions none of whose gold is indexed
    retrieval: dict[str, RetrievalScores]
    gate: GateScores
    answers: AnswerScores | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
