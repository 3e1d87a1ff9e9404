"""Prepare a file from its bytes on another process or machine: the worker side of
distributed ingest (ingest/ray_prepare.py submits it as a Ray task).

A task gets the file's bytes, its name and the SHA-256 the writer computed, and a
``PrepareSpec``: the settings prepare needs, small and picklable. It checks the bytes
against the hash, writes them under the file's own name in a private temp folder (the
title falls back to the file's stem, and reasons name the file), parses them in an
isolated child process (ingest/parsing/isolate.py: timeout, memory cap, a crash is a
reason), chunks and embeds them, and returns the ``Prepared`` document under its
original path. It touches no store: the writer commits (ingest/commit.py).

Each worker process builds its parser and embedders once per spec and keeps them
(a cached global: Ray reuses worker processes between tasks). The embedders load only
verified weights, exactly as on the writer (assistant/models/install.py, tuned.py,
onnx_export.py): a node without the model installed fails the task and never downloads
it. A node may keep its models elsewhere than the writer: ``ASSISTANT_MODELS_DIR`` in
the environment of its ``ray start`` wins over the writer's path.

No Ray import here: this runs, and is tested, in any process.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import errors
from assistant.models.embed import Embedder, HashEmbedder, make_embedder
from ingest.parsing.isolate import IsolatedParser
from ingest.parsing.parse import ParseOptions
from ingest.prepare import Prepared, Preparer

if TYPE_CHECKING:
    from assistant.settings import Settings


@dataclass(frozen=True, slots=True)
class PrepareSpec:
    """What a worker needs to prepare files as the writer would."""

    parse: ParseOptions
    parse_timeout_s: float
    parse_memory_mb: int
    chunk_size: int
    chunk_overlap: int
    max_file_bytes: int
    embedding_model: str
    embedding_backend: str
    embed_batch_size: int
    multilingual_model: str | None
    multilingual_threads: int
    models_dir: str
    #: embedding threads of one task: the CPUs a task reserves
    threads: int = 1

    @classmethod
    def from_settings(cls, settings: Settings, *, threads: int = 1) -> PrepareSpec:
        return cls(
            parse=ParseOptions(
                max_unzipped_bytes=settings.max_unzipped_mb * 1024 * 1024,
                tesseract_cmd=settings.tesseract_cmd,
                ocr_languages=tuple(settings.ocr_languages.split("+")),
                pdf_window_pages=settings.pdf_window_pages,
            ),
            parse_timeout_s=settings.parse_timeout_s,
            parse_memory_mb=settings.parse_memory_mb,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            max_file_bytes=settings.max_file_mb * 1024 * 1024,
            embedding_model=settings.embedding_model,
            embedding_backend=settings.embedding_backend,
            embed_batch_size=settings.embed_batch_size,
            multilingual_model=settings.multilingual_embedding_model,
            multilingual_threads=settings.multilingual_embed_threads,
            models_dir=str(settings.models_dir),
            threads=threads,
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """An ``IngestError`` as it travels back: rebuilt by name on the writer's side."""

    error: str
    message: str
    hint: str | None

    @classmethod
    def of(cls, exc: errors.IngestError) -> Refusal:
        return cls(type(exc).__name__, exc.message, exc.hint)

    def rebuild(self) -> errors.IngestError:
        cls = getattr(errors, self.error, None)
        if not (isinstance(cls, type) and issubclass(cls, errors.IngestError)):
            cls = errors.IngestError
        return cls(self.message, hint=self.hint)


def embedders(spec: PrepareSpec) -> tuple[Embedder, Embedder | None]:
    """The embedders ``spec`` names, as assistant/resources.py builds them ("hash": the
    model-free stand-in of tests and demos)."""
    models = Path(os.environ.get("ASSISTANT_MODELS_DIR") or spec.models_dir)
    if spec.embedding_model == "hash":
        first: Embedder = HashEmbedder()
    else:
        first = make_embedder(
            spec.embedding_model,
            models,
            backend=spec.embedding_backend,
            batch_size=spec.embed_batch_size,
            threads=spec.threads,
        )
    second: Embedder | None = None
    if spec.multilingual_model == "hash":
        second = HashEmbedder(256)
    elif spec.multilingual_model is not None:
        from assistant.models.catalog import get_spec
        from assistant.models.multilingual import make_multilingual_embedder

        second = make_multilingual_embedder(
            get_spec(spec.multilingual_model), models, threads=spec.multilingual_threads
        )
    return first, second


_preparers: dict[PrepareSpec, Preparer] = {}
_lock = threading.Lock()


def worker_preparer(spec: PrepareSpec) -> Preparer:
    """This process's preparer for ``spec``: one isolated parser, the embedders, kept."""
    with _lock:
        preparer = _preparers.get(spec)
        if preparer is None:
            first, second = embedders(spec)
            parser = IsolatedParser(
                spec.parse, timeout_s=spec.parse_timeout_s, memory_mb=spec.parse_memory_mb
            )
            preparer = _preparers[spec] = Preparer(
                parser,
                first,
                chunk_size=spec.chunk_size,
                chunk_overlap=spec.chunk_overlap,
                max_file_bytes=spec.max_file_bytes,
                multilingual=second,
            )
        return preparer


def prepare_bytes(
    spec: PrepareSpec, path: str, data: bytes, digest: str, collection: str
) -> Prepared | Refusal:
    """Prepare the file ``path`` held ``data``: the ``Prepared`` document, or the reason
    it is refused. Anything else (a model missing on this node, a bug) raises."""
    try:
        if hashlib.sha256(data).hexdigest() != digest:
            raise errors.FileChangedWhileReading(
                "the file changed while it was read (a copy in progress?); "
                "it is read again at its next change",
                hint="run `assistant ingest --retry` if it does not change again",
            )
        if len(data) > spec.max_file_bytes:
            raise errors.FileTooLarge(
                f"{len(data):,} bytes is over the {spec.max_file_bytes:,}-byte limit",
                hint="raise ASSISTANT_MAX_FILE_MB or split the file",
            )
        preparer = worker_preparer(spec)
        original = Path(path)
        with tempfile.TemporaryDirectory(prefix="assistant-prepare-") as folder:
            local = Path(folder) / original.name
            local.write_bytes(data)
            parsed = preparer.parser.parse(local)
        return preparer.finish(original, digest, collection, len(data), parsed)
    except errors.IngestError as exc:
        return Refusal.of(exc)
