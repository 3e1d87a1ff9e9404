"""Where an embedding model's verified weights are: a catalogue model or a tuned one.

``embedding_model`` names either a catalogue entry (hashes pinned in ``catalog.py``,
checked by ``install.verify_installed``) or a model ``assistant tune`` made (pinned by
its name and manifest, checked by ``tuned.verify_tuned``). Both end up here as an
``EmbeddingSource``: a folder that was just verified, and the hash of its weights, which
the ONNX export is tied to (``onnx_export.py``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ConfigError, ModelError
from assistant.models.catalog import get_spec
from assistant.models.install import verify_installed
from assistant.models.onnx_export import read_stamp, source_sha256, stamp_path
from assistant.models.tuned import DIGEST_CHARS, MANIFEST, is_tuned, verify_tuned


@dataclass(frozen=True, slots=True)
class EmbeddingSource:
    """Verified sentence-transformers weights: ``name``, their folder and their hash."""

    name: str
    path: Path
    weights_sha256: str
    #: a tuned model's manifest hash (its name holds the first 16 digits); None: catalogue
    manifest_sha256: str | None = None


def embedding_source(name: str, models_dir: Path) -> EmbeddingSource:
    """Verify the embedding model ``name`` (catalogue or tuned) and say where it is."""
    if is_tuned(name):
        tuned = verify_tuned(name, models_dir)
        return EmbeddingSource(name, tuned.path, tuned.weights_sha256, tuned.manifest_sha256)
    spec = get_spec(name)
    if spec.kind != "embedding":
        raise ConfigError(f"{name!r} is a chat model, not an embedding model")
    return EmbeddingSource(name, verify_installed(spec, models_dir), source_sha256(spec))


def split_embedder(name: str) -> tuple[str, str]:
    """``model@backend`` (an embedder's name, as the store records it) -> (model, backend)."""
    model, _, backend = name.partition("@")
    return model, backend


def recorded_hashes(embedder: str | None, models_dir: Path) -> dict[str, str | None]:
    """What the files behind an embedder's name hash to, as far as they are still here,
    without loading or re-hashing the weights: for the audit log's records.

    ``weights_sha256``: the model's weights (pinned by the catalogue, or by a tuned
    model's manifest); ``sha256``: the file the backend loads -- the weights for torch,
    the stamped ONNX export for onnx-int8. None where unknown (a stand-in embedder, a
    model since deleted)."""
    out: dict[str, str | None] = {"sha256": None, "weights_sha256": None}
    if not embedder:
        return out
    model, backend = split_embedder(embedder)
    try:
        if is_tuned(model):
            data = (models_dir / model / MANIFEST).read_bytes()
            if not model.endswith("-" + hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]):
                return out  # not the manifest the name pins: say nothing rather than lie
            body = json.loads(data)
            out["weights_sha256"] = str(body["files"][body["weights"]]["sha256"])
        else:
            out["weights_sha256"] = source_sha256(get_spec(model))
    except (ModelError, OSError, ValueError, KeyError, TypeError):
        return out
    if backend == "torch":
        out["sha256"] = out["weights_sha256"]
    elif backend == "onnx-int8":
        stamp = read_stamp(stamp_path(model, models_dir))
        if stamp.get("source_sha256") == out["weights_sha256"]:
            out["sha256"] = str(stamp.get("sha256") or "") or None
    return out
