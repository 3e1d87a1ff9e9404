"""An answer written in another language than its question, from passages in the
question's: shown as the passages' own sentences that hold its figures.

qwen2.5-1.5b answers some Arabic questions in English prose although every passage it
cites is Arabic ("After the first report, … within 24 hours [1]"). Translating would need
a model that writes Arabic well; the passages already say it in Arabic. When each figure
of the answer is in a sentence of the passages it cites, those sentences, each with its
marker, are shown instead (a figure in digits: its number words the passages spell in
their own language): verbatim, so the grounding check finds them all. Anything else
is left as written: a bare figure ("24 [1]", it reads in any language), an answer without
a figure, one that cites a passage in its own language, or one whose figure no cited
sentence holds. Measured on the Arabic eval set: docs/EVAL-HISTORY.md (26).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answering.grounding import MARKER, numbers
from assistant.domain import Citation
from assistant.text.language import detect
from assistant.text.sentences import split_sentences

#: A word of Latin letters: the prose of an answer not written in Arabic.
_LATIN_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
#: A figure written in digits, Western or Arabic-Indic: an English number word ("one rate")
#: is not looked for, since an Arabic passage spells it in Arabic.
_DIGITS = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9][0-9\u0660-\u0669\u06f0-\u06f9.,]*")
#: Fewer Latin words than this is a figure with its unit ("24 hours [1]"), not prose.
MIN_PROSE_WORDS = 3


def in_question_language(
    text: str, cited: Sequence[Citation], language: str, question: str
) -> str | None:
    """``text`` said by its cited passages' own sentences, when ``text`` is prose in another
    language than ``language`` (the question's) and every passage it cites is in
    ``language``; None to keep ``text`` as it is."""
    if language == "en" or detect(text) == language:
        return None
    plain = MARKER.sub(" ", text)
    if len(_LATIN_WORD.findall(plain)) < MIN_PROSE_WORDS:
        return None
    if not cited or any(detect(c.quote) != language for c in cited):
        return None
    figures = set().union(*map(numbers, _DIGITS.findall(plain))) - numbers(question)
    if not figures:
        return None
    kept: list[str] = []
    held: set[str] = set()
    for citation in cited:
        for sentence in split_sentences(citation.quote):
            found = numbers(sentence) & figures
            line = f"{sentence.strip()} [{citation.n}]"
            if found and line not in kept:
                kept.append(line)
                held |= found
    return " ".join(kept) if held == figures else None
