"""Retrieve the passages most relevant to a question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.domain import RetrievedChunk
from ingest.embed import Embedder
from ingest.index import VectorIndex
from ingest.store import Store


@dataclass(slots=True)
class Retriever:
    store: Store
    index: VectorIndex
    embedder: Embedder
    top_k: int = 4
    min_score: float = 0.25

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.embed([question])[0]

    def retrieve(
        self, question: str, k: int | None = None, *, query_vector: np.ndarray | None = None
    ) -> list[RetrievedChunk]:
        """The top-k chunks whose cosine similarity clears ``min_score``, best first."""
        k = k or self.top_k
        query = self.embed_query(question) if query_vector is None else query_vector
        hits = [(vid, s) for vid, s in self.index.search(query, k) if s >= self.min_score]
        rows = self.store.chunks_for_vids([vid for vid, _ in hits])
        return [
            RetrievedChunk(chunk=rows[vid][0], document=rows[vid][1], score=score)
            for vid, score in hits
            if vid in rows
        ]
