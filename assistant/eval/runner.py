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
time to first token and the decode rate of the answer shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from assistant.answering.generator import Generator
from assistant.answering.prompt import build_messages
from assistant.answering.service import AnswerService, DoneEvent, RetryEvent, TokenEvent
from assistant.eval import metrics as m
from assistant.eval.dataset import EvalItem, GoldResolver, spread
from assistant.eval.gate import COVERAGE_GRID, Evidence, gate_scores
from assistant.eval.scores import AnswerScores, EvalReport, GateScores, RetrievalScores
from assistant.retrieval.coverage import CoverageGate
from assistant.retrieval.retriever import Mode, Retriever

Progress = Callable[[str, int, int], None]  # (phase, done, total)

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
    vectors = retriever.embedder.embed(questions)
    second = retriever.multilingual_embedder
    ml_vectors = second.embed(questions) if second is not None else [None] * len(items)
    per_mode: dict[str, list[list[float]]] = {mode: [] for mode in retriever.modes}
    evidence: list[Evidence] = []  # the gate's, per question
    unresolved = 0
    gates = {*(CoverageGate(*g) for g in COVERAGE_GRID), retriever.coverage}
    refused: dict[CoverageGate, tuple[list[float], list[float]]] = {g: ([], []) for g in gates}
    for n, (item, vec, ml_vec) in enumerate(zip(items, vectors, ml_vectors, strict=True), 1):
        found = retriever.search(item.question, query_vector=vec, multilingual_vector=ml_vec)
        top = found.ranked(retriever.mode)[: retriever.top_k]
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


def _prompt_tokens(generator: Generator, text: str) -> int:
    """Tokens of ``text`` by the model's tokenizer when it has one, else ~4 chars a token."""
    count = getattr(generator, "count_tokens", None)  # the model's worker process
    if count is not None:
        return int(count(text))
    return max(1, len(text) // 4)


def evaluate_answers(
    service: AnswerService,
    items: Sequence[EvalItem],
    resolver: GoldResolver,
    progress: Progress = _noop,
    samples: list[dict[str, Any]] | None = None,
) -> AnswerScores:
    service.warm_up(every_model=True)  # load the models, cache their system prompts
    started = time.perf_counter()
    acc: list[float] = []
    f1: list[float] = []
    refused_ans: list[float] = []
    refused_unans: list[float] = []
    cited_ok: list[float] = []
    ttft: list[float] = []
    rates: list[float] = []
    prompt_tokens: list[float] = []
    answered_by: list[str] = []  # per question a model answered: the one with the last word
    escalated: list[float] = []
    for n, item in enumerate(items, start=1):
        gold_docs = resolver.resolve(item.gold)
        token_times: list[float] = []
        done: DoneEvent | None = None
        for event in service.stream(item.question):
            if isinstance(event, TokenEvent):
                token_times.append(time.perf_counter())
            elif isinstance(event, RetryEvent):  # a draft replaced: time the next model's answer
                token_times.clear()
            elif isinstance(event, DoneEvent):
                done = event
        assert done is not None, "the answer stream ended without a final answer"
        answer = done.answer
        if done.hits and not (answer.refused and "first_token_s" not in answer.timings):
            user = build_messages(done.standalone or item.question, done.hits)[-1]["content"]
            prompt_tokens.append(_prompt_tokens(service.generator, service.system_prompt + user))
        if answer.model is not None:
            answered_by.append(answer.model)
            escalated.append(float(bool(answer.drafts)))
        if "first_token_s" in answer.timings:
            ttft.append(answer.timings["first_token_s"])
            if len(token_times) > 2:
                rates.append((len(token_times) - 1) / (token_times[-1] - token_times[0]))
        if item.answerable:
            refused_ans.append(float(answer.refused))
            acc.append(float(not answer.refused and m.contains_answer(answer.answer, item.answers)))
            f1.append(0.0 if answer.refused else m.token_f1(answer.answer, item.answers))
            for c in answer.citations:
                in_gold = any(
                    h.chunk.id == c.chunk_id and h.document.id in gold_docs for h in done.hits
                )
                cited_ok.append(float(in_gold or m.contains_answer(c.quote, item.answers)))
        else:
            refused_unans.append(float(answer.refused))
        if samples is not None:
            samples.append(
                {
                    "question": item.question,
                    "gold_answers": item.answers,
                    "answer": answer.answer,
                    "refused": answer.refused,
                    "citations": [c.n for c in answer.citations],
                    "first_token_s": answer.timings.get("first_token_s"),
                    "model": answer.model,  # None: refused by the gates, before any model
                    "tried": answer.tried,
                    "draft_s": answer.timings.get("draft_s"),
                    "withheld": answer.withheld,  # the text the grounding check held back
                    "unsupported": answer.unsupported,
                }
            )
        progress("answers", n, len(items))
    return AnswerScores(
        questions=len(items),
        answerable=len(acc),
        unanswerable=len(refused_unans),
        accuracy=m.mean(acc),
        token_f1=m.mean(f1),
        citation_precision=m.mean(cited_ok),
        citations=len(cited_ok),
        refusal_rate=m.mean(refused_unans),
        unanswerable_answered=m.mean([1.0 - r for r in refused_unans]),
        false_refusals=m.mean(refused_ans),
        ttft_median_s=m.percentile(ttft, 50),
        ttft_p90_s=m.percentile(ttft, 90),
        tokens_per_s=m.percentile(rates, 50),
        prompt_tokens_mean=m.mean(prompt_tokens),
        seconds=time.perf_counter() - started,
        by_model={k: answered_by.count(k) / len(answered_by) for k in sorted(set(answered_by))},
        escalated=m.mean(escalated),
    )


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
) -> EvalReport:
    """Evaluate ``items`` against the index of ``resources`` (a ``Resources``).

    Retrieval uses every item. Answers use ``answer_sample`` items spread over the
    list, or -- when ``unanswerable_sample`` is given -- ``answer_sample`` answerable
    and ``unanswerable_sample`` unanswerable ones.
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
            "min_score": s.min_score,
            "context_tokens": s.context_tokens,
            "min_coverage": s.min_coverage,
            "weak_match": [s.weak_match_score, s.weak_match_coverage],
            "embedding": resources.embedder.name,
            "multilingual": getattr(retriever.multilingual_embedder, "name", None),
            "min_score_multilingual": s.min_score_multilingual,
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
        max_tokens=s.max_tokens,
        context_tokens=s.context_tokens or None,
        timeout_s=ANSWER_TIMEOUT_S,
        system_prompt=first.system_prompt,
        verify_grounding=s.verify_grounding,
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
    report.answers = evaluate_answers(service, chosen, resolver, progress, samples)
    report.samples = samples or []
    return report


def mode_label(mode: Mode) -> str:
    return {
        "hybrid": "hybrid (z-score fusion)",
        "dense": "dense (FAISS)",
        "lexical": "BM25 (FTS5)",
        "multilingual": "dense (multilingual)",
    }[mode]
