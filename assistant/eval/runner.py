"""Run an eval: retrieval for every retriever, then (optionally) grounded answers.

Retrieval: every question is searched once; the same search yields the
dense list, the BM25 list, the multilingual index's list (when on) and their
fusion, so they are compared on identical candidates in one run. Ranking metrics
ignore the relevance gate; the gate is reported on its own (how many unanswerable
questions it stops, how many answerable ones it wrongly stops), and with the
multilingual index on, the Arabic questions' gate (on the multilingual cosine) apart.

Answers: the real ``AnswerService`` (gate, compact context, prompt, model --
or the chain of models with ``draft_model`` --, citation resolution, refusal
detection, grounding) runs on each question, and the stream's own clock gives
time to first token and the decode rate of the answer shown (``answers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.answering.knobs import answer_knobs
from assistant.answering.service import AnswerService
from assistant.eval import metrics as m
from assistant.eval.answers import Journal, Progress, evaluate_answers
from assistant.eval.dataset import EvalItem, GoldResolver, spread
from assistant.eval.gate import COVERAGE_GRID, Evidence, gate_scores
from assistant.eval.scores import EvalReport, GateScores, RetrievalScores
from assistant.models.embed import embed_queries
from assistant.retrieval.coverage import CoverageGate
from assistant.retrieval.retriever import Mode, Retriever

#: A batch eval waits for slow answers (a loaded machine) rather than failing them.
ANSWER_TIMEOUT_S = 1800.0


def _noop(phase: str, done: int, total: int) -> None:
    """No progress display."""


def evaluate_retrieval(
    retriever: Retriever,
    items: Sequence[EvalItem],
    resolver: GoldResolver,
    progress: Progress = _noop,
) -> tuple[dict[str, RetrievalScores], GateScores, int]:
    questions = [it.question for it in items]
    vectors = embed_queries(retriever.embedder, questions)  # as the retriever embeds one
    second = retriever.multilingual_embedder
    ml_vectors = embed_queries(second, questions) if second is not None else [None] * len(items)
    per_mode: dict[str, list[list[float]]] = {mode: [] for mode in retriever.modes}
    evidence: list[Evidence] = []  # the gate's, per question
    unresolved = 0
    gates = {*(CoverageGate(*g) for g in COVERAGE_GRID), retriever.coverage}
    refused: dict[CoverageGate, tuple[list[float], list[float]]] = {g: ([], []) for g in gates}
    for n, (item, vec, ml_vec) in enumerate(zip(items, vectors, ml_vectors, strict=True), 1):
        found = retriever.search(item.question, query_vector=vec, multilingual_vector=ml_vec)
        top = retriever.top(found)  # the passages the model would be given
        top_rows = retriever.store.chunks_for_vids(top)
        for g, (unans, ans) in refused.items():
            gated = retriever.refuses(item.question, found, top, top_rows, g)
            (ans if item.answerable else unans).append(float(gated))
        stopped = not retriever.admits(found)
        evidence.append((found.gated_multilingual, item.answerable, found.relevance, stopped))
        if item.answerable:
            gold = resolver.resolve(item.gold)
            unresolved += not gold
            rows = retriever.store.chunks_for_vids(list(found.cosine))
            for mode in retriever.modes:
                docs = m.dedupe(rows[v][1].id for v in found.ranked(mode) if v in rows)
                per_mode[mode].append(
                    [
                        m.recall_at(docs, gold, 1),
                        m.recall_at(docs, gold, 5),
                        m.recall_at(docs, gold, 10),
                        m.reciprocal_rank(docs, gold),
                        m.ndcg_at(docs, gold, 10),
                    ]
                )
        progress("retrieval", n, len(items))
    scores: dict[str, RetrievalScores] = {}
    for name, per_question in per_mode.items():
        r1, r5, r10, mrr, ndcg = (m.mean([row[i] for row in per_question]) for i in range(5))
        scores[name] = RetrievalScores(r1, r5, r10, mrr, ndcg, n=len(per_question))

    t_ml = retriever.min_score_multilingual if retriever.multilingual_index is not None else None
    gate = gate_scores(evidence, retriever.min_score, t_ml, refused)
    return scores, gate, unresolved


def run_eval(
    resources: Any,
    items: Sequence[EvalItem],
    *,
    dataset: str,
    answer_sample: int | None = None,
    unanswerable_sample: int | None = None,
    retrieval_only: bool = False,
    progress: Progress = _noop,
    keep_samples: bool = False,
    journal: Journal | None = None,
) -> EvalReport:
    """Evaluate ``items`` against the index of ``resources`` (a ``Resources``).

    Retrieval uses every item. Answers use ``answer_sample`` items spread over the
    list, or -- when ``unanswerable_sample`` is given -- ``answer_sample`` answerable
    and ``unanswerable_sample`` unanswerable ones. With a ``journal``, the answers it holds
    are kept and only the questions left are answered.
    """
    s = resources.settings
    retriever: Retriever = resources.retriever
    resolver = GoldResolver(resources.store)
    retrieval, gate, unresolved = evaluate_retrieval(retriever, items, resolver, progress)
    report = EvalReport(
        dataset=dataset,
        questions=len(items),
        answerable=sum(it.answerable for it in items),
        unanswerable=sum(not it.answerable for it in items),
        unresolved_gold=unresolved,
        retrieval=retrieval,
        gate=gate,
        settings={
            "top_k": s.top_k,
            "max_chunks_per_document": s.max_chunks_per_document,
            "min_score": s.min_score,
            "context_tokens": s.context_tokens,
            "min_coverage": s.min_coverage,
            "weak_match": [s.weak_match_score, s.weak_match_coverage],
            "embedding": resources.embedder.name,
            "multilingual": getattr(retriever.multilingual_embedder, "name", None),
            "min_score_multilingual": retriever.min_score_multilingual,
            "chunks": resources.store.counts()["chunks"],
            "index": resources.index.kind,
        },
    )
    if retrieval_only:
        return report
    first, *fallbacks = resources.chain  # with draft_model: the draft, then the model
    service = AnswerService(
        retriever,
        first.load(),
        **answer_knobs(s),  # the same as the app's (answering/knobs.py)
        timeout_s=ANSWER_TIMEOUT_S,
        system_prompt=first.system_prompt,
        fallbacks=fallbacks,
    )
    report.settings.update(model=s.model, max_tokens=s.max_tokens)
    if fallbacks:
        report.settings["draft_model"] = first.name
    samples: list[dict[str, Any]] | None = [] if keep_samples else None
    if unanswerable_sample is None:
        chosen = spread(items, answer_sample)
    else:  # stratified: refusal needs enough unanswerable questions to mean something
        chosen = spread([i for i in items if i.answerable], answer_sample) + spread(
            [i for i in items if not i.answerable], unanswerable_sample
        )
    report.answers = evaluate_answers(service, chosen, resolver, progress, samples, journal)
    report.samples = samples or []
    return report


def mode_label(mode: Mode) -> str:
    return {
        "hybrid": "hybrid (z-score fusion)",
        "dense": "dense (FAISS)",
        "lexical": "BM25 (FTS5)",
        "multilingual": "dense (multilingual)",
    }[mode]
