"""Precision and recall of the personal-data redactor (assistant/text/pii.py) on a marked
set (data/eval/pii.jsonl, written by data/eval/make_pii.py: synthetic English and Arabic
texts, every valid number made up, with distractors). A finding counts when its kind and
its exact text match a marked item; each share has its Wilson 95% interval."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.eval.metrics import wilson
from assistant.text.pii import Redactor

DATASET = Path("data/eval/pii.jsonl")


def measure(path: Path = DATASET, redactor: Redactor | None = None) -> dict[str, Any]:
    redactor = redactor or Redactor()
    tp: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    gold: Counter[str] = Counter()
    misses: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = row["text"]
        want = {(kind, value) for kind, value in row["spans"]}
        got = {(f.kind, text[f.start : f.end]) for f in redactor.find(text)}
        for kind, _ in want:
            gold[kind] += 1
        for kind, _ in got:
            predicted[kind] += 1
        for kind, _value in want & got:
            tp[kind] += 1
        misses += [f"missed {k} {v!r}" for k, v in want - got]
        misses += [f"false {k} {v!r}" for k, v in got - want]
    kinds = sorted(set(gold) | set(predicted))

    def share(hit: int, n: int) -> dict[str, Any]:
        interval = wilson(hit, n)
        return {"value": hit / n if n else None, "n": n, "ci": list(interval or (0.0, 1.0))}

    return {
        "texts": len(path.read_text(encoding="utf-8").splitlines()),
        "precision": share(sum(tp.values()), sum(predicted.values())),
        "recall": share(sum(tp.values()), sum(gold.values())),
        "by_kind": {
            k: {"precision": share(tp[k], predicted[k]), "recall": share(tp[k], gold[k])}
            for k in kinds
        },
        "errors": misses,
    }


def section(report: dict[str, Any]) -> str:
    """docs/EVAL.md's part on redaction, from ``measure``'s report."""

    def cell(s: dict[str, Any]) -> str:
        if s["value"] is None:
            return "–"
        return f"{s['value']:.3f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] (n={s['n']})"

    rows = [
        f"| {kind} | {cell(v['precision'])} | {cell(v['recall'])} |"
        for kind, v in report["by_kind"].items()
    ]
    rows.append(f"| **all** | {cell(report['precision'])} | {cell(report['recall'])} |")
    errors = report.get("errors") or []
    return (
        "## Personal-data redaction\n\n"
        f"`data/eval/pii.jsonl`: {report['texts']} synthetic English and Arabic texts "
        "(`data/eval/make_pii.py`: made-up names and numbers, the valid ones generated to pass "
        "their checks, amounts, dates, order and form numbers and numbers failing their check "
        "as distractors, and a hand-written part in other formats). Written by the same hands "
        "as the patterns, so it shows that they do what they claim, not how they fare on real "
        "documents. A finding counts when its kind and exact text match; Wilson 95% intervals.\n\n"
        "| kind | precision | recall |\n|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + ("Errors: " + "; ".join(errors[:10]) + "\n" if errors else "No error on this set.\n")
    )
