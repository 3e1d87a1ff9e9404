"""Which candidate passages are in another language than the question.

The three-way fusion (fusion.py ``language_aware``) lets a passage in the other language
be judged by the multilingual index alone: MiniLM and BM25 cannot judge an English question
against an Arabic passage, or the reverse. A passage's language is its text's
(text/language.py), read from the store once and kept: a chunk's vector id names its
content, so it cannot change language.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.store.documents import Store
from assistant.text.language import Language, detect

#: Languages kept at most (one int and one short string each); then the memo starts again.
LIMIT = 200_000


class ChunkLanguages:
    def __init__(self, store: Store, *, limit: int = LIMIT) -> None:
        self.store = store
        self.limit = limit
        self._known: dict[int, Language] = {}

    def other_than(self, language: Language, vids: Iterable[int]) -> frozenset[int]:
        """Of ``vids``, those whose chunk is not in ``language`` (unknown ids: none)."""
        wanted = list(dict.fromkeys(vids))
        missing = [v for v in wanted if v not in self._known]
        if missing:
            if len(self._known) + len(missing) > self.limit:
                self._known.clear()
            rows = self.store.chunks_for_vids(missing)
            self._known.update({v: detect(chunk.text) for v, (chunk, _) in rows.items()})
        return frozenset(v for v in wanted if self._known.get(v, language) != language)
