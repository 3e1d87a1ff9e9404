"""Retrieve the passages most relevant to a question: dense + lexical, fused, gated.

Dense search (FAISS, MiniLM) finds paraphrases; lexical search (BM25 over FTS5,
Arabic-normalised and stemmed) finds exact names, codes and words the English-only embedder
does not know. ``fusion.zscore`` merges the two lists with per-query weights taken from each
list's own score spread, and ``fusion.by_document`` groups the result by document: a page
whose best few chunks all match outranks a page with one lucky chunk (PostgreSQL recall@5
0.853 -> 0.899, MRR 0.682 -> 0.740; docs/EVAL.md). ``per_document`` (``fusion.first``) can
give the model the best chunk of each top document instead of one page's first few.

With the multilingual index on (USE vectors under the same vids), three lists are fused by
``fusion.language_aware``: a passage in the question's language (``text.language.detect``)
is judged by MiniLM's and BM25's votes for an English question, by the multilingual index's
and BM25's for an Arabic one; a passage in the other language by the multilingual index.

The relevance gate works on the whole question: when even the best candidate's cosine is
below ``min_score`` (calibrated by ``assistant eval``, docs/EVAL.md) nothing is relevant,
and the question is refused without spending the model's time. With the multilingual index
on, ``admits`` gates an Arabic question on the best multilingual cosine
(``min_score_multilingual``), and lets an English question below ``min_score`` pass on an
Arabic passage's multilingual cosine: MiniLM's means nothing for Arabic.

Of the top ``top_k``, a passage whose fused score is below ``min_relative`` of the best
one's is left out: one passage far above the rest is read alone, sooner, with no distractor.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from assistant.domain import Chunk, Document, RetrievedChunk
from assistant.models.embed import Embedder, embed_queries
from assistant.retrieval import fusion, lexical
from assistant.retrieval.acl import permitted_search
from assistant.retrieval.coverage import CoverageGate
from assistant.retrieval.languages import ChunkLanguages
from assistant.store.documents import Store
from assistant.store.follow import Follower
from assistant.store.index import VectorIndex
from assistant.text.language import Language, detect

Mode = Literal["hybrid", "dense", "lexical", "multilingual"]
#: The rankings the eval compares; "multilingual" only where that index is on.
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical", "multilingual")

#: How many candidates each side contributes to the fusion (and to its z-score statistics).
DEFAULT_DEPTH = 50


@dataclass(frozen=True, slots=True)
class Search:
    """Everything one search found, before the gate: every list, the exact cosines in each
    dense index, the fusion."""

    dense: fusion.Hits
    lexical: fusion.Hits
    fused: fusion.Hits
    cosine: dict[int, float] = field(default_factory=dict)
    documents: dict[int, str] = field(default_factory=dict)  # vector id -> document id
    multilingual: fusion.Hits = field(default_factory=list)  # the multilingual index's list
    cosine_multilingual: dict[int, float] = field(default_factory=dict)  # of that list
    language: Language = "en"  # the question's (text/language.py)

    def ranked(self, mode: Mode) -> list[int]:
        """Vector ids, best first, as ``mode`` ranks them: grouped by document, documents
        ranked on their best few chunks (``fusion.by_document``)."""
        hits = {
            "hybrid": self.fused,
            "dense": self.dense,
            "lexical": self.lexical,
            "multilingual": self.multilingual,
        }[mode]
        return [vid for vid, _ in fusion.by_document(hits, self.documents)]

    @property
    def best_cosine(self) -> float:
        """The highest MiniLM cosine similarity among all candidates."""
        return max(self.cosine.values(), default=-1.0)

    @property
    def gated_multilingual(self) -> bool:
        """Whether the gate reads the multilingual cosine: an Arabic question, that index on."""
        return self.language == "ar" and bool(self.cosine_multilingual)

    @property
    def relevance(self) -> float:
        """The gate's evidence: the best cosine of all candidates, in the multilingual index
        for an Arabic question (``gated_multilingual``), else in MiniLM's."""
        if self.gated_multilingual:
            return max(self.cosine_multilingual.values())
        return self.best_cosine


@dataclass(slots=True)
class Retriever:
    store: Store
    index: VectorIndex
    embedder: Embedder
    top_k: int = 4
    min_score: float = 0.25
    mode: Mode = "hybrid"
    depth: int = DEFAULT_DEPTH
    min_relative: float = 0.0
    per_document: int = 0  # chunks of one document among the top k (0: any; fusion.first)
    coverage: CoverageGate = field(default_factory=CoverageGate)
    #: the second, multilingual index and its embedder (None: MiniLM and BM25 alone)
    multilingual_index: VectorIndex | None = None
    multilingual_embedder: Embedder | None = None
    min_score_multilingual: float = 0.2
    #: brings the indexes to what other processes committed (None: this process alone)
    follower: Follower | None = None
    languages: ChunkLanguages = field(init=False)  # each candidate's, for the fusion

    def __post_init__(self) -> None:
        self.languages = ChunkLanguages(self.store)
        if (self.multilingual_index is None) != (self.multilingual_embedder is None):
            raise ValueError("the multilingual index and its embedder come together")

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The rankings this retriever has: ``MODES``, less "multilingual" when that is off."""
        return tuple(m for m in MODES if m != "multilingual" or self.multilingual_index is not None)

    def embed_query(self, question: str) -> np.ndarray:
        return embed_queries(self.embedder, [question])[0]

    def embed_multilingual(self, question: str) -> np.ndarray | None:
        """The question in the multilingual index's space (None: that index is off)."""
        if self.multilingual_embedder is None:
            return None
        return embed_queries(self.multilingual_embedder, [question])[0]

    def threshold(self, found: Search) -> float:
        """The gate's threshold for ``found``'s evidence (``Search.relevance``)."""
        return self.min_score_multilingual if found.gated_multilingual else self.min_score

    def admits(self, found: Search) -> bool:
        """The relevance gate: whether anything ``found`` is relevant enough to answer from.

        The best cosine against its threshold (``Search.relevance``, ``threshold``); and for
        an English question MiniLM's cosine falls short on, an Arabic passage whose
        multilingual cosine reaches ``min_score_multilingual``: MiniLM cannot judge that
        pair. The candidates' languages are the ones the fusion read (``languages``).
        """
        if found.relevance >= self.threshold(found):
            return True
        if found.gated_multilingual or not found.cosine_multilingual:
            return False
        close = [
            v for v, c in found.cosine_multilingual.items() if c >= self.min_score_multilingual
        ]
        return bool(self.languages.other_than(found.language, close))  # Arabic passages

    def search(
        self,
        question: str,
        *,
        query_vector: np.ndarray | None = None,
        collections: frozenset[str] | None = None,
        depth: int | None = None,
        multilingual_vector: np.ndarray | None = None,
    ) -> Search:
        """Every ranked list (restricted to ``collections``), exact cosines, and their fusion.

        ``query_vector`` and ``multilingual_vector``: the question already embedded by each
        embedder (None: embedded here)."""
        if self.follower is not None:
            self.follower.check()
        depth = depth or self.depth
        query = self.embed_query(question) if query_vector is None else query_vector
        total = self.index.ntotal
        dense = permitted_search(
            lambda n: self.index.search(query, n), self.store, depth, collections, total
        )
        second, multi = self.multilingual_index, []
        mq = multilingual_vector
        if second is not None and mq is None:
            mq = self.embed_multilingual(question)
        if second is not None and mq is not None:
            ml_query = mq
            multi = permitted_search(
                lambda n: second.search(ml_query, n), self.store, depth, collections, total
            )
        lex: fusion.Hits = []
        if self.mode != "dense":
            lexical.ensure_lexical_index(self.store)
            bm25 = functools.partial(lexical.search, self.store, question)
            lex = permitted_search(bm25, self.store, depth, collections, total)
        candidates = [vid for vid, _ in (*dense, *multi, *lex)]
        cosine = _exact(self.index, dense, candidates, query)
        language = detect(question)
        cosine_ml = dict(multi)  # its own list's: the gate reads its best (language_aware)
        if second is not None:
            weights = fusion.LANGUAGE_WEIGHTS[language]
            if self.mode == "dense":
                weights = (weights[0], weights[1], 0.0)
            other = self.languages.other_than(language, candidates)
            fused = fusion.language_aware(dense, multi, lex, cosine, weights, other)
        else:
            fused = fusion.zscore(dense, lex, cosine) if lex else list(dense)
        documents = self.store.documents_for_vids(list(cosine))
        return Search(
            dense=dense,
            lexical=lex,
            fused=fused,
            cosine=cosine,
            documents=documents,
            multilingual=multi,
            cosine_multilingual=cosine_ml,
            language=language,
        )

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        *,
        query_vector: np.ndarray | None = None,
        collections: frozenset[str] | None = None,
        multilingual_vector: np.ndarray | None = None,
    ) -> list[RetrievedChunk]:
        """The top-k chunks (``top``), best first, less those far below the best (``_cut``).

        None when the relevance gate refuses (``admits``), or when the
        top k miss what the question names (``coverage``). ``collections`` limits the search
        to what the asker may read (None: all). The filter is applied to the index's hits
        before any chunk text is loaded.
        """
        found = self.search(
            question,
            query_vector=query_vector,
            collections=collections,
            multilingual_vector=multilingual_vector,
        )
        if not self.admits(found):
            return []
        top = self.top(found, k)
        rows = self.store.chunks_for_vids(top)
        if self.refuses(question, found, top, rows):
            return []  # the passages miss what the question names: refuse, model unused
        top = self._cut(found, top)
        return [
            RetrievedChunk(
                chunk=rows[vid][0], document=rows[vid][1], score=found.cosine.get(vid, 0.0)
            )
            for vid in top
            if vid in rows
        ]

    def top(self, found: Search, k: int | None = None) -> list[int]:
        """``found``'s first ``k`` (``top_k``), ``per_document`` of one at most: what is read."""
        ranked = found.ranked(self.mode)
        return fusion.first(ranked, found.documents, k or self.top_k, self.per_document)

    def refuses(
        self,
        question: str,
        found: Search,
        top: list[int],
        rows: Mapping[int, tuple[Chunk, Document]],
        coverage: CoverageGate | None = None,
    ) -> bool:
        """Whether the gates refuse ``question``: the best cosine of all ``found`` is below
        its threshold (``admits``), or the ``top`` passages (their ``rows``) miss what it
        names. ``coverage`` replaces the configured coverage gate (the eval tabulates several)."""
        if not self.admits(found):
            return True
        texts = [rows[vid][0].text for vid in top if vid in rows]
        best = max((found.cosine.get(vid, -1.0) for vid in top), default=-1.0)
        gate = coverage if coverage is not None else self.coverage
        return not gate.admits(question, texts, best)

    def _cut(self, found: Search, top: list[int]) -> list[int]:
        """``top`` without the passages whose fused score is below ``min_relative`` of the best."""
        if self.mode != "hybrid" or self.min_relative <= 0.0 or not top:
            return top
        fused = dict(found.fused)
        best = max(fused.get(v, 0.0) for v in top)
        if best <= 0.0:  # nothing stands out: no share of it means anything
            return top
        return [v for v in top if fused.get(v, 0.0) >= self.min_relative * best]


def _exact(
    index: VectorIndex, hits: fusion.Hits, candidates: list[int], query: np.ndarray
) -> dict[int, float]:
    """``index``'s cosine of every candidate: its own hits' scores, the others' read back."""
    cosine = dict(hits)
    missing = list(dict.fromkeys(vid for vid in candidates if vid not in cosine))
    q = np.asarray(query, dtype=np.float32)
    for vid, vec in index.vectors(missing).items():
        cosine[vid] = float(vec @ q)
    return cosine
