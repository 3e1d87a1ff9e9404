"""The coverage gate: do the passages found even name what the question is about?

The relevance gate (``min_score``) looks at similarity only, and a question
about a person or a product the documents never mention still lands near
passages about similar people or products. A small model then answers from
those, confidently and wrongly. So the names in the question (capitalised
words other than common ones, and numbers) are looked up in the retrieved passages;
when the question names at least ``MIN_TERMS`` of them and fewer than
``min_coverage`` of them occur anywhere in what was found, the answer is a
refusal, without the model.

A weak match needs more: when even the best passage given is only loosely
similar to the question (cosine below ``weak_score``), a question about
something absent lands on neighbours that share a name or two, so then
``weak_coverage`` of the names must be found.

Measured on the eval sets (docs/EVAL.md, "Relevance gate"): 0.5 alone refused
65% of the unanswerable HaluEval questions against 5.3% of the answerable ones;
with 0.8 below a cosine of 0.45 it refuses 82% against 7.7%. Every one of those 7.7%
(23 questions) is one whose own gold passage misses as many of its names: HaluEval
passages are excerpts that often never name their subject ("He last played for SSV Jahn
Regensburg."), so no passage in the index names it. It refuses none of
the PostgreSQL-docs questions (users write those in lower case, so the gate
rarely has anything to check there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Runs of capitalised words, and numbers of three or more digits (years, models, codes).
_NAME = re.compile(r"[A-Z][\w'’\-]*(?:\s+[A-Z][\w'’\-]*)*|\d{3,4}")
_POSSESSIVE = re.compile(r"['’]s$")
#: Capitalised only because they start a question or a clause.
_COMMON = frozenset(
    "the a an in on of for and or but to what which who whom whose when where why how is are "
    "was were did does do has have had can could should would will may might must after before "
    "during since until if then there this that these those it its my our your their i i'm "
    "i've we you he she they please tell give list name explain".split()
)
#: Fewer names than this and the gate does not judge: one incidental name proves little.
MIN_TERMS = 2


def named_terms(question: str) -> list[str]:
    """The question's names, lower-cased and unique, in order of appearance."""
    terms: dict[str, None] = {}
    for run in _NAME.findall(question):
        for word in run.split():
            w = _POSSESSIVE.sub("", word.lower())
            if len(w) > 2 and w not in _COMMON:
                terms.setdefault(w, None)
    return list(terms)


def coverage(question: str, texts: Sequence[str]) -> float | None:
    """Share of the question's names found in ``texts``; None when it names too few."""
    terms = named_terms(question)
    if len(terms) < MIN_TERMS:
        return None
    found = " ".join(texts).lower()
    return sum(1 for t in terms if t in found) / len(terms)


@dataclass(frozen=True, slots=True)
class CoverageGate:
    """How much of what a question names the passages found must mention."""

    min_coverage: float = 0.0  # 0: the gate never refuses
    weak_score: float = 0.0  # a best cosine below this is a weak match...
    weak_coverage: float = 0.0  # ...which needs this share instead, when higher

    def required(self, best_score: float) -> float:
        if best_score < self.weak_score:
            return max(self.min_coverage, self.weak_coverage)
        return self.min_coverage

    def admits(self, question: str, texts: Sequence[str], best_score: float) -> bool:
        """False when the passages miss too much of what the question names."""
        need = self.required(best_score)
        if need <= 0.0:
            return True
        share = coverage(question, texts)
        return share is None or share >= need
