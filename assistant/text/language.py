"""The language of a text: Arabic or English, from its words' script.

Answers, refusals and error texts follow the language of the question
(assistant/answering/service.py). A question is Arabic when at least half of its
words that hold letters are written in Arabic script: word shares rather than letter
shares, because the Latin names an Arabic question carries (``work_mem``,
``PostgreSQL``) are long words while the Arabic words around them are short. Persian
and Urdu share the script and count as Arabic. No model, no dictionary: a question
is short and the two scripts do not overlap.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "ar"]
LANGUAGES: tuple[Language, ...] = ("en", "ar")

_WORD = re.compile(r"\w+", re.UNICODE)
#: Arabic letters: the Arabic block and its supplements, presentation forms included.
_ARABIC_LETTER = re.compile(
    "[\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufefc]"
)


def detect(text: str) -> Language:
    """``"ar"`` when at least half of the words with letters are in Arabic script, else
    ``"en"`` (also for a text with no letters at all)."""
    arabic = other = 0
    for word in _WORD.findall(text):
        if _ARABIC_LETTER.search(word):
            arabic += 1
        elif any(c.isalpha() for c in word):
            other += 1
    return "ar" if arabic and arabic >= other else "en"


def direction(language: str) -> Literal["ltr", "rtl"]:
    """How a text of ``language`` runs."""
    return "rtl" if language == "ar" else "ltr"
