"""Is the figure an answer gives about what was asked? Checked with the grounding check.

The grounding check (grounding.py) asks whether each figure of an answer is in the passage
it cites. A small model given passages *near* the question passes it with a figure that is
there, but said of something else: to "How much is the monthly housing allowance?" (the
documents give none) the 1.5B wrote "The monthly housing allowance is 150 EUR per night [2].",
the hotel cap of the expenses policy. The answer restates the question's words, "housing"
among them, which its passage never uses; and the sentence it took 150 from shares no word
with the question, nor does that passage's heading or title. Both together mark a figure
taken from another topic, and it counts as unsupported: the answer is cut before that
sentence, or withheld.

Words are compared as the lexical index reads them (text/analysis.py: Snowball stems,
"allowances" is "allowance"), without stopwords and question words. Only where the
question and the sentence holding the figure are both English: the stems are English ones,
and a cross-lingual pair shares no words at all. Either condition alone misfires (session
16, CHANGELOG): answers restate questions in words their passages do not use (90 of 203
right HaluEval answers), and multi-hop answers take a year from a sentence that names
neither entity of the question.

Measured on qwen2.5-1.5b's answers to the eval sets (AVX-512 EPYC, 2026-12-07): of HaluEval's
278 answered questions it flagged one, an invented answer to an unanswerable question ("…
originated in 1739 when George Frideric Handel …"); of git-docs' 138 one, also to an
unanswerable question ("… 512 MiB"); of 109 PostgreSQL answers one, wrong ("The largest
value a single field can hold is 18 bytes [1]."); of the Arabic set's 103, none. No right
answer was flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.text.analysis import content_terms
from assistant.text.language import detect

__all__ = ["off_topic", "stems"]

#: Stems of a question's words that say how it asks, not what about (beside the
#: analyser's stopwords): "how many", "how long", "how often", "tell me", "do you know".
_ASKING = frozenset("mani long often tell know".split())


def stems(text: str) -> set[str]:
    """The stems of ``text``'s content words, as the lexical index reads them."""
    return {w for w in content_terms(text) if w not in _ASKING and len(w) > 2}


def off_topic(
    sentence: str, question: str, holding: Mapping[str, Sequence[str]], passages: Sequence[str]
) -> list[str]:
    """The figures of the answer ``sentence`` that every passage sentence holding them says
    of something else (see the module's docstring). ``holding`` maps each figure the
    sentence asserts to the sentences of its cited ``passages`` that hold it; each sentence
    and each passage comes with its heading and document title."""
    if not holding or detect(question) != "en":
        return []
    asked = stems(question)
    restated = stems(sentence) & asked  # what the answer says it is about, in the user's words
    if not restated - set().union(*(stems(p) for p in passages)):
        return []  # the passages speak of what the answer says: on topic
    return [
        figure
        for figure, sentences in holding.items()
        if sentences and not any(detect(s) != "en" or asked & stems(s) for s in sentences)
    ]
