"""Present an ``EvalReport``: JSON, terminal tables and Markdown for docs/EVAL.md."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rich.table import Table

from assistant.eval.metrics import wilson
from assistant.eval.runner import mode_label
from assistant.eval.scores import AnswerScores, EvalReport, GateScores, RetrievalScores
from assistant.retrieval.retriever import MODES


def to_dict(report: EvalReport) -> dict[str, Any]:
    """Plain JSON-ready data; NaN (a measure with no questions) becomes null."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and math.isnan(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    out: dict[str, Any] = clean(dataclasses.asdict(report))
    return out


def f3(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.3f}"


def f1(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.1f}"


def share_ci(x: float | None, n: int | None) -> str:
    """A share of ``n`` 0/1 outcomes with its Wilson 95% interval: "0.853 [0.78, 0.90]".

    Without ``n`` (a results.json from before it was kept) the share stands alone.
    """
    if x is None or math.isnan(x) or not n:
        return f3(x)
    ci = wilson(round(x * n), n)  # the share is k/n: k comes back exactly
    return f3(x) if ci is None else f"{x:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def retrieval_rows(report: EvalReport) -> list[list[str]]:
    rows = []
    for mode in (m for m in MODES if m in report.retrieval):  # "multilingual": when on
        r = report.retrieval[mode]
        recalls = (share_ci(v, r.n) for v in (r.recall_1, r.recall_5, r.recall_10))
        rows.append([mode_label(mode), *recalls, f3(r.mrr), f3(r.ndcg_10)])
    return rows


RETRIEVAL_HEAD = ["retriever", "recall@1", "recall@5", "recall@10", "MRR", "nDCG@10"]
ANSWER_HEAD = [
    "questions",
    "accuracy (contains)",
    "token F1",
    "citation precision",
    "refusal (unanswerable)",
    "unanswerable answered",
    "false refusal",
    "TTFT median s",
    "TTFT p90 s",
    "tokens/s",
    "prompt tokens",
]


def answer_row(a: AnswerScores) -> list[str]:
    return [
        f"{a.answerable} + {a.unanswerable} unanswerable",
        share_ci(a.accuracy, a.answerable),
        f3(a.token_f1),
        f"{share_ci(a.citation_precision, a.citations)} ({a.citations})",
        share_ci(a.refusal_rate, a.unanswerable),
        share_ci(a.unanswerable_answered, a.unanswerable),
        share_ci(a.false_refusals, a.answerable),
        f"{a.ttft_median_s:.2f}",
        f"{a.ttft_p90_s:.2f}",
        f1(a.tokens_per_s),
        f"{a.prompt_tokens_mean:.0f}",
    ]


def tables(report: EvalReport) -> list[Table]:
    """Rich tables for the terminal."""
    out = []
    t = Table(
        *RETRIEVAL_HEAD, title=f"retrieval · {report.dataset} · {report.answerable} answerable"
    )
    for row in retrieval_rows(report):
        t.add_row(*row)
    out.append(t)
    g = report.gate
    gate = Table(
        "min_score", "refuses unanswerable", "refuses answerable", title="relevance gate alone"
    )
    for threshold, unans, ans in g.grid:
        mark = " (set)" if math.isclose(threshold, g.min_score) else ""
        gate.add_row(f"{threshold:.2f}{mark}", f3(unans), f3(ans))
    if not any(math.isclose(x[0], g.min_score) for x in g.grid):
        gate.add_row(
            f"{g.min_score:.2f} (set)", f3(g.refused_unanswerable), f3(g.refused_answerable)
        )
    out.append(gate)
    if g.grid_multilingual and g.min_score_multilingual is not None:
        ml = Table(
            "min_score_multilingual",
            "refuses unanswerable",
            "refuses answerable",
            title="relevance gate of Arabic questions (multilingual cosine)",
        )
        for threshold, unans, ans in g.grid_multilingual:
            mark = " (set)" if math.isclose(threshold, g.min_score_multilingual) else ""
            ml.add_row(f"{threshold:.2f}{mark}", f3(unans), f3(ans))
        out.append(ml)
    if report.answers is not None:
        a = Table(*ANSWER_HEAD, title=f"answers · {models_label(report)}")
        a.add_row(*answer_row(report.answers))
        out.append(a)
    return out


def models_label(report: EvalReport) -> str:
    """The model, or the chain ``draft → model`` with each one's share of the answers."""
    model = str(report.settings.get("model", ""))
    draft = report.settings.get("draft_model")
    if not draft:
        return model
    shares = report.answers.by_model if report.answers is not None else {}
    return f"{draft} → {model} (" + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) + ")"


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def from_dict(data: dict[str, Any]) -> EvalReport:
    """An ``EvalReport`` back from ``to_dict`` (to re-render docs/EVAL.md without re-running)."""

    def num(x: Any) -> Any:
        return float("nan") if x is None else x

    answers = data.get("answers")
    if answers and "unanswerable_answered" not in answers:  # written before it was kept
        refused = answers["refusal_rate"]  # every unanswerable question is one or the other
        answers = {**answers, "unanswerable_answered": None if refused is None else 1 - refused}
    gate = data["gate"]
    return EvalReport(
        dataset=data["dataset"],
        questions=data["questions"],
        answerable=data["answerable"],
        unanswerable=data["unanswerable"],
        unresolved_gold=data["unresolved_gold"],
        retrieval={
            k: RetrievalScores(**{f: v if f == "n" else num(v) for f, v in s.items()})
            for k, s in data["retrieval"].items()
        },
        gate=GateScores(
            min_score=gate["min_score"],
            refused_unanswerable=num(gate["refused_unanswerable"]),
            refused_answerable=num(gate["refused_answerable"]),
            grid=[(t, num(u), num(a)) for t, u, a in gate["grid"]],
            coverage_grid=[
                (c, w, wc, num(u), num(a)) for c, w, wc, u, a in gate.get("coverage_grid", [])
            ],
            min_score_multilingual=gate.get("min_score_multilingual"),
            grid_multilingual=[
                (t, num(u), num(a)) for t, u, a in gate.get("grid_multilingual", [])
            ],
        ),
        answers=AnswerScores(**{f: num(v) for f, v in answers.items()}) if answers else None,
        settings=data.get("settings", {}),
        samples=data.get("samples", []),
    )
