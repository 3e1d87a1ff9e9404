"""The eval's measures, as pure functions of ranked lists and answer strings.

Retrieval is judged at the level the dataset's gold names (documents or
passages): a ranked list of chunks is first collapsed to distinct gold-level
ids, best first. recall@k is the share of questions with a gold id in the top
k (gold ids are alternatives: any one answers the question); MRR uses the
first gold hit; nDCG@10 uses binary relevance over all gold ids. Answers are
normalised as in SQuAD (case, punctuation, articles, spaces; Arabic punctuation
counts as punctuation) before the containment and token-F1 checks. Arabic-Indic
digits are not folded: a dataset lists both spellings ("30", "٣٠"). Containment
also folds what only spells the same answer differently, on both sides alike: a
final plural or possessive "s" ("rhythm guitarists" contains "rhythm
guitarist") and the order of a date ("January 24, 1953" is "24 January 1953").
A share (k of n) is reported with its Wilson score 95% interval; means of ranks
(MRR, nDCG) have none.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
#: Arabic punctuation: comma, semicolon, question mark, guillemets, percent, thousands and
#: decimal separators ("٢٥٪" is "25%", "١٬٠٠٠" is "1,000": both lose their marks alike).
_ARABIC_PUNCT = "،؛؟«»٪٬٫"
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”" + _ARABIC_PUNCT)


def dedupe(ids: Iterable[str]) -> list[str]:
    """Distinct ids in first-seen order (several chunks of one document count once)."""
    return list(dict.fromkeys(ids))


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    return 1.0 if any(r in gold for r in ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float:
    for i, r in enumerate(ranked, start=1):
        if r in gold:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal if ideal else 0.0


#: A citation marker, "[1]" or "[1, 2]": not part of what the answer says.
_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


def normalise_answer(text: str) -> str:
    text = _CITATION.sub(" ", text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
#: "january 24 1953" (punctuation already gone) -> "24 january 1953".
_MONTH_FIRST = re.compile(rf"\b({_MONTHS}) (\d{{1,2}}) (\d{{3,4}})\b")


def _fold(normalised: str) -> str:
    """Spelling variants of one answer made equal: date order, a final plural/possessive s."""
    text = _MONTH_FIRST.sub(r"\2 \1 \3", normalised)
    return " ".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in text.split()
    )


#: "James's" -> "James": with the apostrophe gone, "jamess" would no longer fold to "jame".
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


def _contained_form(text: str) -> str:
    return _fold(normalise_answer(_POSSESSIVE.sub("", text)))


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """Some gold answer, normalised and folded, appears in the normalised, folded prediction."""
    pred = f" {_contained_form(prediction)} "
    return any((norm := _contained_form(a)) and f" {norm} " in pred for a in answers if a.strip())


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best SQuAD token F1 of the prediction against any gold answer."""
    pred = normalise_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalise_answer(answer).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or not common:
            continue
        p, r = common / len(pred), common / len(gold)
        best = max(best, 2 * p * r / (p + r))
    return best


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes`` out of ``n`` (95% by default); None for n=0.

    Unlike p ± z·√(p(1-p)/n) it stays inside [0, 1] and does not shrink to a point at
    0 of n or n of n, which are the shares a good system reports most.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}")
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else centre - half  # exact ends, not 1e-17 off them
    high = 1.0 if successes == n else centre + half
    return low, high
