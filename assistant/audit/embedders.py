"""Records of the embedder changing: a re-embedding of the index, and a tuned model's lineage.

Both hold ids, names, hashes and counts only -- no document text and no generated
question (those stay in the tuned model's folder, pinned by its manifest's hash here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.audit.log import AuditLog
from assistant.audit.records import AuditRecord, EventKind


def record_reembedded(
    audit: AuditLog,
    *,
    actor: str,
    old_embedder: str | None,
    old_hashes: Mapping[str, str | None],
    new_embedder: str,
    new_hashes: Mapping[str, str | None],
    chunks: int,
    index_kind: str,
    generation: int,
    seconds: float,
) -> AuditRecord:
    """Every chunk of the index re-embedded: from which embedder (``model@backend``) to
    which, each with ``sha256`` (the file its backend loads) and ``weights_sha256``."""
    data = {
        "old_embedder": old_embedder,
        "old_sha256": old_hashes.get("sha256"),
        "old_weights_sha256": old_hashes.get("weights_sha256"),
        "new_embedder": new_embedder,
        "new_sha256": new_hashes.get("sha256"),
        "new_weights_sha256": new_hashes.get("weights_sha256"),
        "chunks": chunks,
        "index_kind": index_kind,
        "generation": generation,
        "seconds": seconds,
    }
    return audit.record(EventKind.REEMBEDDED, actor, data)


def record_embedder_tuned(
    audit: AuditLog,
    *,
    actor: str,
    model: str,
    manifest_sha256: str,
    weights_sha256: str,
    files: Mapping[str, str],
    lineage: Mapping[str, Any],
) -> AuditRecord:
    """A model ``assistant tune`` made: its name, manifest and file hashes, and its
    ``lineage`` -- the base model and its hash, the chat model that wrote the questions
    and its hash, the collection (None: all), sample size and seed, pairs kept and
    skipped, epochs, batch size, learning rate and loss per epoch."""
    data = {
        "model": model,
        "manifest_sha256": manifest_sha256,
        "weights_sha256": weights_sha256,
        "files": dict(files),
        **lineage,
    }
    return audit.record(EventKind.EMBEDDER_TUNED, actor, data)
