"""Arabic orthographic normalisation for the lexical index.

MiniLM is an English model, so Arabic documents are found mainly by the
lexical side. Arabic text is written with optional short-vowel marks
(tashkeel), decorative stretching (tatweel) and several interchangeable
letter forms; a query typed without them must still match a document written
with them, and the other way round. Numbers are written with Arabic-Indic digits
(٣٤) as often as with Western ones (34): both are read as Western digits. The same
function runs at index time and at query time, so both sides meet on one spelling.
"""

from __future__ import annotations

import re

#: Harakat, tanwin, shadda, sukun, superscript alef and Quranic annotation marks.
_DIACRITICS = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]"
)
TATWEEL = "\u0640"

_LETTERS = str.maketrans(
    {
        "\u0623": "\u0627",  # أ alef with hamza above -> ا
        "\u0625": "\u0627",  # إ alef with hamza below -> ا
        "\u0622": "\u0627",  # آ alef with madda -> ا
        "\u0671": "\u0627",  # ٱ alef wasla -> ا
        "\u0649": "\u064a",  # ى alef maksura -> ي
        "\u06cc": "\u064a",  # ی Farsi yeh -> ي
        "\u0629": "\u0647",  # ة ta marbuta -> ه
        TATWEEL: None,
        # Arabic-Indic digits ٠…٩ (U+0660) and their Persian forms ۰…۹ (U+06F0) -> 0…9
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
#: A GLOB that finds text ``normalize_arabic`` changes digits in (assistant/retrieval/lexical.py).
INDIC_DIGITS_GLOB = "*[\u0660-\u0669\u06f0-\u06f9]*"

_ARABIC = re.compile("[\u0600-\u06ff]")

#: The definite article and the one-letter particles that attach before it.
_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")


def has_arabic(text: str) -> bool:
    return _ARABIC.search(text) is not None


def normalize_arabic(text: str) -> str:
    """Strip tashkeel and tatweel; unify alef (أإآٱ→ا), ya (ى→ي) and ta marbuta (ة→ه);
    read Arabic-Indic and Persian digits as Western ones (٣٤→34)."""
    if not has_arabic(text):
        return text
    return _DIACRITICS.sub("", text).translate(_LETTERS)


def light_stem(token: str) -> str:
    """Drop a leading definite article (ال, وال, بال …) when a stem of 3+ letters remains.

    "الكتاب" and "كتاب" are the same word to a reader; without this a query
    for one never matches the other. Only the article is removed: deeper
    Arabic stemming conflates too much for exact document search.
    """
    for prefix in _ARTICLES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            return token[len(prefix) :]
    return token
