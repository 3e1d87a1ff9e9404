"""Does an answer give what its question asks for? Checked after grounding, before it is shown.

The grounding check (grounding.py) asks whether what an answer states is in its passages.
It cannot see an answer that states nothing the question asked for: to "How much is the
housing allowance's ceiling?" (the documents give none) the 1.5B model wrote "The housing
allowance is paid monthly with the salary [3]." -- true, cited, backed, and no answer.
A question that asks *how many* or *how much* (``كم`` in Arabic) is answered by a figure, so
an answer with none is withheld like an unsupported one.

A figure is any digit (Western, Arabic-Indic or Persian) or a number written out in English
or Arabic ("five", "half", "ثلاثة", "ثلث", "أسبوعين": a dual is a count). "What year" and
"what percentage" ask for one too. "How long" and "when" are left out: "until the end of
Ramadan" answers them without a number. So are questions about how to find a figure out
("how can I see how many dead rows a table has?"), and an answer with code, a function or
an option (`git shortlog -s`) gives a way to the figure, which answers a manual's reader.

Measured on the journaled answers of the eval sets (qwen2.5-1.5b, AVX-512 EPYC, 2026-12-07):
of 115 answerable Arabic-set questions it withheld 2 answers, both wrong ("the number of
days [1]"); of 19 unanswerable ones it refused 2 more (9 -> 11); none of HaluEval's 400
answers and none of 64 PostgreSQL ones changed.
"""

from __future__ import annotations

import re

from assistant.answering.grounding import MARKER
from assistant.domain import NO_FIGURE

__all__ = ["NO_FIGURE", "asks_quantity", "lacks_asked_figure", "states_quantity"]

_ASKS_EN = re.compile(
    r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:percentage|percent|fraction|proportion)\b"
    r"|\b(?:what|which)\s+year\b",
    re.I,
)
#: "كم" (how many / how much) as a word of its own, maybe after "و" / "ف" or as "بكم".
_ASKS_AR = re.compile(r"(?:^|[\s،؛,.?؟(])(?:[وف])?(?:ب)?كم(?=[\s،؛,.?؟)]|$)")
_DIGIT = re.compile(r"[0-9٠-٩۰-۹]")
_WORD = re.compile(r"[^\W\d_]+")
_EN = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred hundreds thousand thousands million millions billion billions "
    "half halves third thirds quarter quarters dozen dozens once twice none single double "
    "triple".split()
)
_AR = frozenset(
    "واحد واحدة واحدا واحداً إحدى احدى اثنان اثنين اثنتان اثنتين ثنتين ثلث ثلثا ثلثي ربع "
    "نصف ست ستة ستين ستون مائة مئة مائتين مئتين مائتان ألف الف آلاف ألفين ألفان أرباع أثلاث "
    "يومين يومان أسبوعين أسبوعان شهرين شهران سنتين سنتان ساعتين ساعتان دقيقتين عامين عامان "
    "مرتين مرتان".split()
)
#: Stems of the Arabic numbers 3-10 and their tens ("ثلاثة", "ثلاثين", "عشرة", "عشرين").
_AR_STEMS = ("ثلاث", "أربع", "اربع", "خمس", "سبع", "ثمان", "تسع", "عشر")
_AR_PREFIXES = ("", "و", "ف", "ب", "ل", "وب", "ول", "فب", "ك")


#: A question about how to get the figure ("how can I find out how much disk space a table
#: takes?") is answered by a way to get it (``pg_total_relation_size``), not by a figure.
_ASKS_WAY = re.compile(
    r"\bhow\s+(?:do|does|can|could|would|should|to)\b|\b(?:find\s+out|see|check|tell|show|"
    r"list|count|measure|work\s+out|look\s+up)\b|كيف|طريقة",
    re.I,
)
#: What a way to get a figure looks like in an answer: code, a function, an option, a name.
_WAY = re.compile(r"`[^`\n]+`|\w+\(|(?<!\w)--?[A-Za-z]|\b[a-z]+_[a-z_]+\b")


def asks_quantity(question: str) -> bool:
    """Whether ``question`` asks for a figure itself (how many, how much, what year or
    share), not for a way to find one out."""
    asks = _ASKS_EN.search(question) or _ASKS_AR.search(question)
    return bool(asks) and not _ASKS_WAY.search(question)


def _arabic_number(word: str) -> bool:
    for prefix in _AR_PREFIXES:
        if not word.startswith(prefix):
            continue
        w = word[len(prefix) :]
        w = w[2:] if w.startswith("ال") else w
        if w in _AR or (3 <= len(w) <= 7 and w.startswith(_AR_STEMS)):
            return True
    return False


def states_quantity(answer: str) -> bool:
    """Whether ``answer`` gives a figure (a digit, a number written out) or a way to one."""
    text = MARKER.sub(" ", answer)
    if _DIGIT.search(text) or _WAY.search(text):  # a command that counts answers "how many"
        return True
    return any(w.lower() in _EN or _arabic_number(w) for w in _WORD.findall(text))


def lacks_asked_figure(question: str, answer: str) -> bool:
    """A how-many question answered without any figure: no answer to it."""
    return asks_quantity(question) and not states_quantity(answer)
