"""Write docs/EVAL.md from one run of the standard eval (``make eval``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.eval import pii
from assistant.eval.doc_text import FUSION, INTRO
from assistant.eval.report import (
    ANSWER_HEAD,
    RETRIEVAL_HEAD,
    answer_row,
    f3,
    from_dict,
    markdown_table,
    retrieval_rows,
)
from assistant.eval.scores import EvalReport

Answers = Sequence[tuple[str, str, str, EvalReport]]  # (set, model, context, report)


#: Retrieval targets of the Arabic set and of its parts by kind (``standard.by_kind``).
ARABIC_TARGETS = {
    "arabic": "targets (issue 15): Arabic recall@5 ≥ 0.95, cross-lingual recall@5 ≥ 0.90",
    "arabic (ar)": "target (issue 15): Arabic recall@5 ≥ 0.95",
    "arabic (en-ar)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
    "arabic (ar-en)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
    "arabic (cross-lingual)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
}


def _embedders(settings: dict[str, Any]) -> str:
    """The embedder, and the multilingual one when that index was on."""
    second = settings.get("multilingual")
    return f"{settings.get('embedding')} + {second}" if second else str(settings.get("embedding"))


def _kind_part(name: str) -> bool:
    """A report on the questions of one kind of a set ("arabic (ar)"): retrieval only."""
    return name.endswith(")") and " (" in name


def _answers_section(answers: Answers) -> str:
    if not answers:
        return "## Answers\n\nNot run (`--retrieval-only`).\n"
    rows = [
        [name, model, context, *answer_row(r.answers)]
        for name, model, context, r in answers
        if r.answers is not None
    ]
    return (
        "## Answers, per model\n\n"
        "The default model answers every question of every set: answerable and held-out "
        "unanswerable HaluEval questions, answerable PostgreSQL and git ones, and the "
        "PostgreSQL ones again from whole chunks, for the compact-context comparison. With "
        "`--sample-models` "
        "(as `make eval` runs it) the other models answer evenly spread samples instead "
        "(`python -m assistant.eval.standard --help` gives their sizes): the questions column "
        "tells a whole set from a sample. Each share is followed by its Wilson score 95% "
        "interval [low, high] over the questions it counts: the answerable ones for accuracy "
        "and false refusal, the unanswerable ones for refusal and unanswerable answered. "
        "Citation precision's n is the number of cited passages judged (in parentheses); the "
        "passages one answer cites are not independent, so its interval is somewhat too narrow. "
        "Token F1, TTFT, tokens/s and prompt tokens are means or medians, without intervals. "
        "The model reads the top `top_k` "
        "passages less those whose fused score is below `min_relative_score` of the best one's "
        "(`assistant/retrieval/retriever.py`). accuracy = the "
        "normalised gold answer is contained in the answer, a final plural or possessive s and "
        "the order of a date folded alike on both sides (refusals count as wrong); "
        "citation precision = share of cited "
        "passages that come from a gold document or contain the gold answer; refusal = share of "
        "unanswerable questions refused (gate or model); unanswerable answered = share of "
        "unanswerable questions that got an answer instead of a refusal, an invented fact since "
        "their passages are held out of the index (the complement of refusal; target ≤ 0.05); "
        "false refusal = share of answerable ones refused. "
        "TTFT is measured from the question to the first token inside the answer "
        "service (embedding, retrieval and context included; no HTTP); tokens/s is the decode "
        "rate after the first token.\n\n"
        + markdown_table(["set", "model", "context", *ANSWER_HEAD], rows)
        + "\n"
    )


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def recommend(answers: Answers) -> tuple[str | None, list[list[str]]]:
    """The model to make default: best accuracy, then fewest false refusals, then fastest.

    Targets met are shown, not ranked on: a model can "meet" citation precision by
    citing little, and time to first token on a shared machine says more about the
    neighbours than about the model.

    Targets (issue): accuracy ≥ 0.70, citation precision ≥ 0.90, refusal ≥ 0.90 with false
    refusal ≤ 0.10, TTFT median ≤ 3 s. Compact-context runs only. Each set counts once,
    whether its model answered all of it or a sample (``--sample-models``).
    """
    by_model: dict[str, list[Any]] = {}
    for _, model, context, r in answers:
        if context == "compact" and r.answers is not None:
            by_model.setdefault(model, []).append(r.answers)
    rows: list[list[str]] = []
    ranked: list[tuple[float, float, float, str]] = []
    for model, scores in by_model.items():
        acc = _mean([a.accuracy for a in scores])
        cit = _mean([a.citation_precision for a in scores])
        ref = _mean([a.refusal_rate for a in scores])
        false = _mean([a.false_refusals for a in scores])
        ttft = _mean([a.ttft_median_s for a in scores])
        met = sum(
            (
                acc >= 0.70,
                cit >= 0.90,
                ref >= 0.90 and false <= 0.10,
                ttft <= 3.0,
            )
        )
        ranked.append(
            (
                acc if not math.isnan(acc) else -1.0,
                -false if not math.isnan(false) else -1.0,
                -ttft if not math.isnan(ttft) else -1e9,
                model,
            )
        )
        asked = f"{sum(a.answerable for a in scores)} + {sum(a.unanswerable for a in scores)}"
        rows.append(
            [model, asked, f3(acc), f3(cit), f3(ref), f3(false), f"{ttft:.2f}", f"{met} of 4"]
        )
    if not ranked:
        return None, rows
    return max(ranked)[3], rows


def write_eval_doc(
    path: Path,
    reports: dict[str, EvalReport],
    answers: Answers,
    *,
    default_model: str,
    finished: dict[str, Any],
) -> None:
    parts = [INTRO]
    load = os.getloadavg()
    cpu = finished.get("cpu") or {}
    where = f" on {cpu['model']} ({', '.join(cpu['flags']) or 'no AVX-512'})" if cpu else ""
    code = f" at commit `{finished['code'][:12]}`" if finished.get("code") else ""
    parts.append(
        f"Run {finished.get('started', '')} – {finished.get('finished', '')}{code}{where}, "
        f"load average at the end {load[0]:.1f} on {os.cpu_count()} cores (the machine is shared: "
        "timings are pessimistic; an interrupted run goes on from its journaled answers, so "
        "the span may include a pause). What was measured between full runs, on the "
        "questions a change touches, is in docs/EVAL-HISTORY.md.\n"
    )
    parts.append(
        "## Retrieval\n\n"
        "Every answerable question of each set. Each recall@k is followed by its Wilson score "
        "95% interval [low, high] over those questions (a question scores 0 or 1); MRR and "
        "nDCG@10 are means of graded scores and have none.\n"
    )
    targets = {
        "halueval": "targets: recall@5 ≥ 0.99, nDCG@10 ≥ 0.975, fused above the best single",
        "postgres-docs": "targets: recall@5 ≥ 0.92 and above dense alone",
        "git-docs": "targets: recall@5 ≥ 0.92 and above dense alone",
    }
    targets.update(ARABIC_TARGETS)
    for name, r in reports.items():
        s = r.settings
        parts.append(
            f"### {name}: {r.answerable} answerable questions, {s.get('chunks')} chunks "
            f"({s.get('index')} index, {_embedders(s)})\n\n{targets.get(name, '')}\n\n"
            + markdown_table(RETRIEVAL_HEAD, retrieval_rows(r))
            + "\n"
        )
        if r.unresolved_gold:
            parts.append(f"{r.unresolved_gold} question(s) name gold documents not in the index.\n")
    parts.append(FUSION)
    parts.append(
        "## Relevance gate\n\n"
        "The gate refuses a question, without the model, when even the best candidate's cosine "
        "similarity is below `min_score`. Share of questions the gate alone refuses:\n"
    )
    for name, r in reports.items():
        if _kind_part(name):
            continue  # the whole set's gate table counts these questions already
        g = r.gate
        st = r.settings
        setting = (st.get("min_coverage"), *st.get("weak_match", [None, None]))
        rows = [
            [f"{t:.2f}" + (" (set)" if math.isclose(t, g.min_score) else ""), f3(u), f3(a)]
            for t, u, a in g.grid
        ]
        parts.append(
            f"### {name}\n\n"
            + markdown_table(["min_score", "unanswerable refused", "answerable refused"], rows)
            + "\n"
        )
        if g.grid_multilingual and g.min_score_multilingual is not None:
            t_ml = g.min_score_multilingual
            parts.append(
                "Its Arabic questions are gated on the multilingual index's best cosine "
                "instead (MiniLM's means nothing for Arabic), against `min_score_multilingual`; "
                "the table above counts the others.\n\n"
                + markdown_table(
                    ["min_score_multilingual", "unanswerable refused", "answerable refused"],
                    [
                        [f"{t:.2f}" + (" (set)" if math.isclose(t, t_ml) else ""), f3(u), f3(a)]
                        for t, u, a in g.grid_multilingual
                    ],
                )
                + "\n"
            )
        if g.coverage_grid and r.unanswerable:
            parts.append(
                f"With the coverage gate (`assistant/retrieval/coverage.py`) after the cosine gate "
                f"at {g.min_score:.2f}: a question naming two or more things is refused when the "
                "passages given mention fewer than `min_coverage` of them, or fewer than "
                "`weak_match_coverage` when their best cosine is below `weak_match_score`.\n\n"
                + markdown_table(
                    [
                        "min_coverage",
                        "weak_match_score",
                        "weak_match_coverage",
                        "unanswerable refused",
                        "answerable refused",
                    ],
                    [
                        [
                            f"{c:.2f}",
                            f"{w:.2f}",
                            f"{wc:.2f}" + (" (set)" if (c, w, wc) == setting else ""),
                            f3(u),
                            f3(a),
                        ]
                        for c, w, wc, u, a in g.coverage_grid
                    ],
                )
                + "\n"
            )
    parts.append(_answers_section(answers))
    if finished.get("pii"):  # the redactor's precision and recall (assistant/eval/pii.py)
        parts.append(pii.section(finished["pii"]))
    if finished.get("note"):
        parts.append(f"Note: {finished['note']}.\n")
    best, rows = recommend(answers)
    if rows:
        parts.append(
            "## Which model should be the default\n\n"
            "Compact-context runs, averaged over the sets (each set counts once, whole or "
            "sampled; questions = answerable + unanswerable ones the model answered). An average "
            "over sets has no Wilson interval of its own: each set's is in the table above. "
            "Targets: accuracy ≥ 0.70, citation "
            "precision ≥ 0.90, refusal ≥ 0.90 with false refusal ≤ 0.10, TTFT median ≤ 3 s.\n\n"
            + markdown_table(
                [
                    "model",
                    "questions",
                    "accuracy",
                    "citation precision",
                    "refusal",
                    "false refusal",
                    "TTFT s",
                    "targets met",
                ],
                rows,
            )
            + f"\n\nBy these numbers: **{best}** (configured default: `{default_model}`).\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def render_results(results_path: Path, doc: Path, default_model: str) -> None:
    """Rewrite ``doc`` from a saved ``results.json`` (after a change to the doc's wording);
    ``default_model`` when the results do not name theirs."""
    results = json.loads(results_path.read_text(encoding="utf-8"))
    reports = {k: from_dict(v) for k, v in results["sets"].items()}
    answers = [(a["set"], a["model"], a["context"], from_dict(a)) for a in results["answers"]]
    default = results.get("default_model") or default_model
    write_eval_doc(doc, reports, answers, default_model=default, finished=results)
