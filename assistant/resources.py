"""The composition root: heavy resources built lazily, once, from settings.

Entry points (CLI, server, tests) make one ``Resources`` and hand its parts
down. Tests inject deterministic stand-ins (a hash embedder, an echo
generator) through the constructor; nothing else needs to know.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from assistant.answering.generator import Generator, LlamaGenerator
from assistant.answering.service import AnswerService
from assistant.errors import ModelIntegrityError
from assistant.models.catalog import get_spec
from assistant.models.install import verify_file, verify_installed
from assistant.retrieval.retriever import Retriever
from assistant.settings import Settings
from ingest.embed import Embedder, SentenceTransformerEmbedder
from ingest.index import VectorIndex
from ingest.pipeline import Ingestor
from ingest.store import Store


class Resources:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._generator = generator
        self._lock = threading.RLock()

    # -- models ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                spec = get_spec(self.settings.embedding_model)
                path = verify_installed(spec, self.settings.models_dir)
                self._embedder = SentenceTransformerEmbedder(
                    path, name=spec.name, batch_size=self.settings.embed_batch_size
                )
            return self._embedder

    def model_file(self) -> tuple[Path, str]:
        """The GGUF to load and its pinned SHA-256, verified before anything reads it."""
        spec = get_spec(self.settings.model)
        pinned = spec.files[0].sha256
        if self.settings.model_path is not None:
            path = self.settings.model_path
            try:
                verify_file(path, pinned)
            except FileNotFoundError as exc:
                raise ModelIntegrityError(f"model file not found: {path}") from exc
            return path, pinned
        return verify_installed(spec, self.settings.models_dir), pinned

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                path, sha = self.model_file()
                s = self.settings
                self._generator = LlamaGenerator(
                    path,
                    name=s.model,
                    sha256=sha,
                    context_size=s.context_size,
                    threads=s.threads,
                    batch_size=s.batch_size,
                    temperature=s.temperature,
                    repeat_penalty=s.repeat_penalty,
                )
            return self._generator

    # -- storage ---------------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        self.settings.ensure_dirs()
        return Store(self.settings.index_dir / "chunks.sqlite")

    @cached_property
    def index(self) -> VectorIndex:
        return VectorIndex.open(
            self.settings.index_dir / "vectors.faiss", self.embedder.dim, self.store
        )

    # -- services --------------------------------------------------------------
    @cached_property
    def retriever(self) -> Retriever:
        s = self.settings
        return Retriever(
            self.store, self.index, self.embedder, top_k=s.top_k, min_score=s.min_score
        )

    @cached_property
    def answers(self) -> AnswerService:
        s = self.settings
        return AnswerService(
            self.retriever,
            self.generator,
            max_tokens=s.max_tokens,
            context_tokens=s.context_tokens or None,
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        s = self.settings
        return Ingestor(
            self.store,
            self.index,
            self.embedder,
            chunk_size=s.chunk_size,
            quarantine_dir=s.quarantine_dir,
            max_file_bytes=s.max_file_mb * 1024 * 1024,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
