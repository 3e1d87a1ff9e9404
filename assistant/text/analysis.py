"""The text analyser shared by the lexical index and its queries.

One function decides what a word is, for both sides: NFKC and case folding,
Arabic normalisation (``assistant.text.arabic``), identifiers such as
``work_mem`` split into their parts (and kept joined), English words reduced
to their Snowball stem. It lives apart from the search code because
``assistant.store.documents`` calls ``index_text`` when it writes a chunk's FTS5 row.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Any

import Stemmer

from assistant.text.arabic import has_arabic, light_stem, normalize_arabic

_WORD = re.compile(r"\w+", re.UNICODE)
_ASCII_WORD = re.compile(r"[a-z]+")
MAX_QUERY_TERMS = 48

#: Words that carry no topic. Dropped from queries only: BM25 already gives
#: them little weight, and dropping them keeps OR queries small and fast.
STOPWORDS = frozenset(
    normalize_arabic(w)
    for w in """a about above after again all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else
    ever every few for from further get gets got had has have having he her here hers herself
    him himself his how i if in into is it its itself just let like make me might more most
    much must my myself need no nor not now of off on once one only or other our ours ourselves
    out over own please same say she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us use used
    using very want was way we were what when where whether which while who whom whose why will
    with within without would yes yet you your yours yourself yourselves
    في من الى على عن ما ماذا كيف هل هو هي هذا هذه ذلك التي الذي او ان لا""".split()
)

#: What ``index_text`` writes, by version: a store records the one its rows were written
#: with (assistant/retrieval/lexical.py rewrites them when it changes). 2: Arabic-Indic
#: digits read as Western ones.
ANALYSER_VERSION = "2"

_local = threading.local()


def _stemmer() -> Any:
    """One Snowball stemmer per thread: PyStemmer objects are not thread-safe."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _words(text: str) -> list[str]:
    """Case-folded, NFKC- and Arabic-normalised words; ``a_b`` also yields ``a`` and ``b``."""
    text = normalize_arabic(unicodedata.normalize("NFKC", text).casefold())
    out: list[str] = []
    for word in _WORD.findall(text):
        if "_" in word:
            parts = [p for p in word.split("_") if p]
            out.extend(parts)
            if len(parts) > 1:
                out.append("".join(parts))
        else:
            out.append(word)
    return out


def _stem(words: list[str]) -> list[str]:
    stemmer = _stemmer()
    out: list[str] = []
    for w in words:
        if _ASCII_WORD.fullmatch(w):
            out.append(stemmer.stemWord(w))
        elif has_arabic(w):
            out.append(light_stem(w))
        else:
            out.append(w)
    return out


def analyse(text: str) -> list[str]:
    """The index-time analyser: every word, normalised and stemmed, in order."""
    return _stem(_words(text))


def index_text(section: str | None, text: str) -> str:
    """What a chunk's FTS5 row holds: its section heading and text, analysed."""
    return " ".join(analyse(f"{section or ''}\n{text}"))


def content_terms(text: str) -> set[str]:
    """Every distinct analysed word of ``text`` but stopwords and numbers."""
    return set(_stem([w for w in _words(text) if w not in STOPWORDS and not w.isdigit()]))


def query_terms(question: str) -> list[str]:
    """The distinct analysed content words of a question (stopwords only if nothing else)."""
    words = _words(question)
    content = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(_stem(content)))[:MAX_QUERY_TERMS]


def match_expression(question: str) -> str | None:
    """A safe FTS5 MATCH expression: each term quoted, OR-ed. ``None`` when nothing is left."""
    terms = query_terms(question)
    if not terms:
        return None
    return or_expression(terms)


def or_expression(terms: list[str]) -> str:
    """Analysed ``terms`` as an FTS5 expression: each quoted (never FTS5 syntax), OR-ed."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
