"""Retrieve the passages most relevant to a question: dense + lexical, fused, gated.

Dense search (FAISS, MiniLM) finds paraphrases; lexical search (BM25 over
FTS5, Arabic-normalised and stemmed) finds exact names, codes and words the
English-only embedder does not know. ``fusion.zscore`` merges the two lists
with per-query weights taken from each list's own score spread, and
``fusion.by_document`` groups the result by document: a page whose best few
chunks all match outranks a page with one lucky chunk (on the PostgreSQL manual
recall@5 0.853 -> 0.899, MRR 0.682 -> 0.740; HaluEval, one chunk per passage,
unchanged; docs/EVAL.md).

The relevance gate works on the whole question, not per chunk: when even the
best candidate's cosine similarity is below ``min_score`` nothing is relevant,
and the question is refused without spending the model's time. The default is
calibrated by ``assistant eval`` (docs/EVAL.md) to cost at most a few per cent
of answerable questions; the model's own "the sources do not say" catches the
rest.

How many passages the model reads is decided per question, too: of the top
``top_k``, a passage whose fused score is below ``min_relative`` of the best
one's is left out. When one passage stands far above the rest (a question
naming what one passage is about) the model reads that one alone, sooner and
with no distractor beside it; when the scores are close (a paraphrased
question over a manual) it reads all of them. Every token left out is one
llama.cpp does not read before the first token of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from assistant.domain import Chunk, Document, RetrievedChunk
from assistant.models.embed import Embedder
from assistant.retrieval import fusion, lexical
from assistant.retrieval.acl import permitted_search
from assistant.retrieval.coverage import CoverageGate
from assistant.store.documents import Store
from assistant.store.index import VectorIndex

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")

#: How many candidates each side contributes to the fusion (and to its z-score statistics).
DEFAULT_DEPTH = 50


@dataclass(frozen=True, slots=True)
class Search:
    """Everything one search found, before the gate: both lists, the exact cosines, the fusion."""

    dense: fusion.Hits
    lexical: fusion.Hits
    fused: fusion.Hits
    cosine: dict[int, float] = field(default_factory=dict)
    documents: dict[int, str] = field(default_factory=dict)  # vector id -> document id

    def ranked(self, mode: Mode) -> list[int]:
        """Vector ids, best first, as ``mode`` ranks them: grouped by document, documents
        ranked on their best few chunks (``fusion.by_document``)."""
        hits = {"hybrid": self.fused, "dense": self.dense, "lexical": self.lexical}[mode]
        return [vid for vid, _ in fusion.by_document(hits, self.documents)]

    @property
    def best_cosine(self) -> float:
        """The gate's evidence: the highest cosine similarity among all candidates."""
        return max(self.cosine.values(), default=-1.0)


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
    coverage: CoverageGate = field(default_factory=CoverageGate)

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def search(
        self,
        question: str,
        *,
        query_vector: np.ndarray | None = None,
        collections: frozenset[str] | None = None,
        depth: int | None = None,
    ) -> Search:
        """Both ranked lists (restricted to ``collections``), exact cosines, and their fusion."""
        depth = depth or self.depth
        query = self.embed_query(question) if query_vector is None else query_vector
        total = self.index.ntotal
        dense = permitted_search(
            lambda n: self.index.search(query, n), self.store, depth, collections, total
        )
        lex: fusion.Hits = []
        if self.mode != "dense":
            lexical.ensure_lexical_index(self.store)
            lex = permitted_search(
                lambda n: lexical.search(self.store, question, n),
                self.store,
                depth,
                collections,
                total,
            )
        cosine = dict(dense)
        missing = [vid for vid, _ in lex if vid not in cosine]
        q = np.asarray(query, dtype=np.float32)
        for vid, vec in self.index.vectors(missing).items():
            cosine[vid] = float(vec @ q)
        fused = fusion.zscore(dense, lex, cosine) if lex else list(dense)
        documents = self.store.documents_for_vids(list(cosine))
        return Search(dense=dense, lexical=lex, fused=fused, cosine=cosine, documents=documents)

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        *,
        query_vector: np.ndarray | None = None,
        collections: frozenset[str] | None = None,
    ) -> list[RetrievedChunk]:
        """The top-k chunks for ``mode``, best first, less those far below the best (``_cut``).

        None when the best cosine is below ``min_score``, or when the top k miss what the
        question names (``coverage``). ``collections`` limits the search to what the asker
        may read (None: all). The filter is applied to the index's hits before any chunk
        text is loaded.
        """
        k = k or self.top_k
        found = self.search(question, query_vector=query_vector, collections=collections)
        if found.best_cosine < self.min_score:
            return []
        top = found.ranked(self.mode)[:k]
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

    def refuses(
        self,
        question: str,
        found: Search,
        top: list[int],
        rows: Mapping[int, tuple[Chunk, Document]],
        coverage: CoverageGate | None = None,
    ) -> bool:
        """Whether the gates refuse ``question``: the best cosine of all ``found`` is below
        ``min_score``, or the ``top`` passages (their ``rows``) miss what it names.
        ``coverage`` replaces the configured coverage gate (the eval tabulates several)."""
        if found.best_cosine < self.min_score:
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
