"""Embedders: a small Protocol, the real sentence-transformers one, and a hash one for tests.

All return L2-normalised float32 rows, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from assistant.models.catalog import ModelSpec


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts (documents or queries) into normalised rows."""
        ...


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    """``texts`` as questions in ``embedder``'s space: its ``embed_queries`` where it has one
    (a model trained with a query prompt, ``multilingual.PromptedEmbedder``), else ``embed``."""
    queries = getattr(embedder, "embed_queries", None)
    return embedder.embed(texts) if queries is None else np.asarray(queries(texts))


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
        return self._encode(texts, None)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class OnnxEmbedder:
    """The same model through ONNX Runtime: int8 weights, a raw session, no torch.

    Measured on 2 cores (notes in docs/BENCHMARKS.md), what makes it fast:
    - int8 weights, quantised per channel (``assistant.models.onnx_export``);
    - one text per run: activations stay in cache and nothing is padded;
      batches of 1-8 ran alike, 32 ~25% and 64 ~35% slower. One text per run
      also makes a text's vector independent of its batch-mates (int8
      activations are scaled per run), so a query and the same text as a
      document embed identically;
    - one single-threaded run per core, in parallel, instead of one run split
      over the cores: no synchronisation inside every small matmul;
    - idle threads sleep instead of spinning (the CPU is shared with parsing
      and llama.cpp);
    - tokenising inside the workers (the Rust tokenizer releases the GIL), and
      the graph itself mean-pools and normalises: numpy in, rows out.
    Batches above 1 are still supported (sorted by length, padded per batch).

    The model bytes are hashed as they are loaded and refused unless they are
    the SHA-256 recorded when the model was exported: no gap between check and use.
    """

    def __init__(
        self,
        model_file: Path,
        sha256: str,
        tokenizer_dir: Path,
        *,
        name: str,
        batch_size: int = 1,
        threads: int = 0,
        max_seq_length: int | None = None,
        dim: int = 384,
    ) -> None:
        self.model_file = model_file
        self.sha256 = sha256
        self.tokenizer_dir = tokenizer_dir
        self.name = name
        self.dim = dim
        self.batch_size = batch_size
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.max_seq_length = max_seq_length or _max_seq_length(tokenizer_dir)
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        #: idle tokenizers, one taken per run: a tokenizer keeps padding state, so runs at
        #: once need one each, and loading one costs ~25 ms (a thread-local one was loaded
        #: again by every new server thread)
        self._tokenizers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                from assistant.models.onnx_export import tampered

                data = self.model_file.read_bytes()
                actual = hashlib.sha256(data).hexdigest()
                if actual != self.sha256:
                    raise tampered(self.model_file, self.sha256, actual)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1  # parallel runs instead, see the class docstring
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
        return self._session

    def _tokenizer(self) -> Any:
        try:
            return self._tokenizers.get_nowait()
        except queue.Empty:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.tokenizer_dir / "tokenizer.json"))
            tok.enable_truncation(max_length=self.max_seq_length)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
            return tok

    def _run(self, session: Any, texts: list[str]) -> NDArray[np.float32]:
        tok = self._tokenizer()
        try:
            encodings = tok.encode_batch(texts)
        finally:
            self._tokenizers.put(tok)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        rows = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(rows, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = self._load()
        # characters predict tokens well enough to group texts of like length
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(batches) == 1 or self._pool is None:
            results = [self._run(session, [texts[j] for j in b]) for b in batches]
        else:
            results = list(
                self._pool.map(lambda b: self._run(session, [texts[j] for j in b]), batches)
            )
        for rows, vecs in zip(batches, results, strict=True):
            out[rows] = vecs
        return _normalise(out)


def _max_seq_length(model_dir: Path) -> int:
    """The window sentence-transformers uses for this model (256 for MiniLM), so both agree:
    ``sentence_bert_config.json`` holds it, or (as sentence-transformers 6 saves a tuned
    model) the tokenizer's ``model_max_length``."""
    for file, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        try:
            config = json.loads((model_dir / file).read_text(encoding="utf-8"))
            return int(config[key])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 256


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


def make_embedder(
    model: ModelSpec | str,
    models_dir: Path,
    *,
    backend: str,
    batch_size: int = 0,
    threads: int = 0,
) -> Embedder:
    """The embedder for ``backend``, from verified local weights; its name is model@backend.

    ``model``: a catalogue entry or name, or the name of a model ``assistant tune`` made
    (verified against its manifest, ``assistant/models/tuned.py``). ``batch_size`` 0
    takes the backend's measured best (torch 64, onnx-int8 1); ``threads`` 0 runs one
    ONNX worker per core.

    The name goes into the store (``Store.bind_embedder``) so an index is never
    queried through another model or backend than the one that filled it.
    """
    from assistant.models.sources import embedding_source

    if backend not in ("torch", "onnx-int8"):
        raise ConfigError(f"unknown embedding backend {backend!r}: use 'torch' or 'onnx-int8'")
    source = embedding_source(model if isinstance(model, str) else model.name, models_dir)
    name = f"{source.name}@{backend}"
    if backend == "torch":
        return SentenceTransformerEmbedder(source.path, name=name, batch_size=batch_size or 64)
    from assistant.models.onnx_export import ensure_int8_export

    onnx = ensure_int8_export(source.name, source.path, source.weights_sha256, models_dir)
    return OnnxEmbedder(
        onnx.path,
        onnx.sha256,
        onnx.source_dir,
        name=name,
        batch_size=batch_size or 1,
        threads=threads,
    )
