"""Embedders: a small Protocol, the real sentence-transformers one, and a hash one for tests.

All return L2-normalised float32 rows, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts (documents or queries) into normalised rows."""
        ...


def _normalise(x: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model) loaded from a local folder.

    The model is loaded lazily, once, on first use; ``HF_HUB_OFFLINE`` is set by
    ``assistant.offline`` so nothing is fetched.
    """

    def __init__(self, model_dir: Path, *, name: str, batch_size: int = 64, dim: int = 384) -> None:
        self.model_dir = model_dir
        self.name = name
        self.dim = dim
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(
                    str(self.model_dir), device="cpu", local_files_only=True
                )
                self.dim = int(model.get_embedding_dimension() or self.dim)
                self._model = model
        return self._model

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A deterministic bag-of-words embedder: each lower-cased token hashes to a dimension.

    Texts sharing words get similar vectors, which is enough for fast tests of
    everything around the model.
    """

    def __init__(self, dim: int = 384) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = int.from_bytes(
                    hashlib.blake2b(token.encode(), digest_size=8).digest(), "little"
                )
                out[row, h % self.dim] += 1.0 if (h >> 63) == 0 else -1.0
        return _normalise(out)
