"""Grounded answers of an eval: one record per question, then the shares over them.

Each question's outcome is a plain record (the answer, how it scored, its clock), so the
scores come from records alone and an interrupted run keeps the records it has (a
``journal``: see ``journal.AnswerJournal``) and answers only the questions left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from assistant.answering.generator import Generator
from assistant.answering.prompt import build_messages
from assistant.answering.service import AnswerService, DoneEvent, RetryEvent, TokenEvent
from assistant.errors import ModelError
from assistant.eval import metrics as m
from assistant.eval.dataset import EvalItem, GoldResolver
from assistant.eval.scores import AnswerScores

Progress = Callable[[str, int, int], None]  # (phase, done, total)
Record = dict[str, Any]


class Journal(Protocol):
    """Where each question's record is kept as soon as it is known."""

    def get(self, key: str) -> Record | None: ...

    def add(self, key: str, record: Record) -> None: ...


def _noop(phase: str, done: int, total: int) -> None:
    """No progress display."""


def _prompt_tokens(generator: Generator, text: str) -> int:
    """Tokens of ``text`` by the model's tokenizer when it has one, else ~4 chars a token."""
    count = getattr(generator, "count_tokens", None)  # the model's worker process
    if count is not None:
        return int(count(text))
    return max(1, len(text) // 4)


def answer_record(service: AnswerService, item: EvalItem, resolver: GoldResolver) -> Record:
    """Answer ``item`` through the real service and score the answer shown."""
    started = time.perf_counter()
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
    prompt_tokens = None
    if done.hits and not (answer.refused and "first_token_s" not in answer.timings):
        user = build_messages(done.standalone or item.question, done.hits)[-1]["content"]
        prompt_tokens = _prompt_tokens(service.generator, service.system_prompt + user)
    rate = None
    if "first_token_s" in answer.timings and len(token_times) > 2:
        rate = (len(token_times) - 1) / (token_times[-1] - token_times[0])
    cited_ok = []
    if item.answerable:
        for c in answer.citations:
            in_gold = any(
                h.chunk.id == c.chunk_id and h.document.id in gold_docs for h in done.hits
            )
            cited_ok.append(float(in_gold or m.contains_answer(c.quote, item.answers)))
    return {
        "question": item.question,
        "answerable": item.answerable,
        "gold_answers": item.answers,
        "answer": answer.answer,
        "refused": answer.refused,
        "accurate": item.answerable
        and not answer.refused
        and m.contains_answer(answer.answer, item.answers),
        "token_f1": 0.0 if answer.refused else m.token_f1(answer.answer, item.answers),
        "citations": [c.n for c in answer.citations],
        "cited_ok": cited_ok,  # per citation of an answerable question: a gold passage
        "first_token_s": answer.timings.get("first_token_s"),
        "tokens_per_s": rate,
        "prompt_tokens": prompt_tokens,
        "model": answer.model,  # None: refused by the gates, before any model
        "escalated": bool(answer.drafts),
        "tried": answer.tried,
        "draft_s": answer.timings.get("draft_s"),
        "withheld": answer.withheld,  # the text the grounding check held back
        "trimmed": answer.trimmed,  # the tail cut after a cited, backed lead
        "unsupported": answer.unsupported,
        "seconds": time.perf_counter() - started,
    }


def _answer_with_retry(service: AnswerService, item: EvalItem, resolver: GoldResolver) -> Record:
    """An answer whose model crashed or stalled is asked again once (its worker restarts
    by itself): an hours-long eval is not lost to one stall on a loaded machine."""
    try:
        return answer_record(service, item, resolver)
    except ModelError:
        return answer_record(service, item, resolver)


def score_records(records: Sequence[Record]) -> AnswerScores:
    """The answer shares (and clocks) over one record per question."""
    ans = [r for r in records if r["answerable"]]
    unans = [r for r in records if not r["answerable"]]
    by_model = [r["model"] for r in records if r["model"] is not None]
    ttft = [r["first_token_s"] for r in records if r["first_token_s"] is not None]
    rates = [r["tokens_per_s"] for r in records if r["tokens_per_s"] is not None]
    cited_ok = [c for r in ans for c in r["cited_ok"]]
    return AnswerScores(
        questions=len(records),
        answerable=len(ans),
        unanswerable=len(unans),
        accuracy=m.mean([float(r["accurate"]) for r in ans]),
        token_f1=m.mean([r["token_f1"] for r in ans]),
        citation_precision=m.mean(cited_ok),
        citations=len(cited_ok),
        refusal_rate=m.mean([float(r["refused"]) for r in unans]),
        unanswerable_answered=m.mean([float(not r["refused"]) for r in unans]),
        false_refusals=m.mean([float(r["refused"]) for r in ans]),
        ttft_median_s=m.percentile(ttft, 50),
        ttft_p90_s=m.percentile(ttft, 90),
        tokens_per_s=m.percentile(rates, 50),
        prompt_tokens_mean=m.mean([r["prompt_tokens"] for r in records if r["prompt_tokens"]]),
        seconds=sum(r["seconds"] for r in records),
        by_model={k: by_model.count(k) / len(by_model) for k in sorted(set(by_model))},
        escalated=m.mean([float(r["escalated"]) for r in records if r["model"] is not None]),
    )


def evaluate_answers(
    service: AnswerService,
    items: Sequence[EvalItem],
    resolver: GoldResolver,
    progress: Progress = _noop,
    samples: list[Record] | None = None,
    journal: Journal | None = None,
) -> AnswerScores:
    """Answer every item (those a ``journal`` already holds are taken from it) and score."""
    records: list[Record] = []
    warm = False
    for n, item in enumerate(items, start=1):
        key = f"{n}\t{item.question}"
        record = journal.get(key) if journal is not None else None
        if record is None:
            if not warm:
                service.warm_up(every_model=True)  # load the models, cache system prompts
                warm = True
            record = _answer_with_retry(service, item, resolver)
            if journal is not None:
                journal.add(key, record)
        records.append(record)
        progress("answers", n, len(items))
    if samples is not None:
        samples.extend(records)
    return score_records(records)
