"""Export the packaged sentence-transformers weights to an int8 ONNX model, offline.

Why: the embedder is the hot loop of ingest. On a 2-core CPU, ONNX Runtime
with int8 (VNNI) matmuls runs all-MiniLM-L6-v2 about 3x faster than torch at a
cosine of ~0.99 to it (figures in docs/BENCHMARKS.md, ``make bench``).

How: the verified safetensors (``assistant.models.install.verify_installed``)
are traced with ``torch.onnx.export`` into one graph that also does the mean
pooling and L2 normalisation, then dynamically quantised to int8 per channel.
(ONNX Runtime's BERT fusions were measured too: no faster once int8.) Nothing
is downloaded. The result lives in ``<models_dir>/<name>-onnx-int8/model.onnx``.

The same recipe exports a model tuned here (``assistant tune``, ``tuned.py``): the
source is then its manifest-verified folder, and the stamp ties the export to the
tuned weights' hash the same way (``ensure_int8_export``).

Trust: the export is not byte-reproducible across library versions, so its
hash cannot be pinned in the catalogue. Instead a stamp beside the other
model stamps records the SHA-256 of the file just written, the pinned hash of
the weights it came from and the recipe version. A missing export (or one made
from other weights or another recipe) is re-created; a file whose hash no
longer matches its stamp was altered after export and is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ModelError, ModelIntegrityError
from assistant.models.catalog import ModelSpec
from assistant.models.install import hash_file as sha256_file
from assistant.models.install import verify_installed

#: Bump when the export steps change: older exports are then re-made.
RECIPE = "pooled-int8-per-channel-v1"
BACKEND = "onnx-int8"
MODEL_FILE = "model.onnx"
_OPSET = 17


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """A verified-on-load ONNX export: where it is and the SHA-256 it must have."""

    path: Path
    sha256: str
    source_dir: Path


def _name(model: ModelSpec | str) -> str:
    return model if isinstance(model, str) else model.name


def export_dir(model: ModelSpec | str, models_dir: Path) -> Path:
    return models_dir / f"{_name(model)}-{BACKEND}"


def stamp_path(model: ModelSpec | str, models_dir: Path) -> Path:
    return models_dir / f".{_name(model)}-{BACKEND}.export.json"


def source_sha256(spec: ModelSpec) -> str:
    """The pinned hash of the weights file: an export is only valid for these weights."""
    weights = [f for f in spec.files if f.relpath.endswith((".safetensors", ".bin"))]
    return (weights or list(spec.files))[0].sha256


def read_stamp(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_stamp(path: Path, *, sha256: str, source_sha256: str, size: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    body = {"file": MODEL_FILE, "sha256": sha256, "size": size}
    body |= {"source_sha256": source_sha256, "recipe": RECIPE}
    tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _export_lock(models_dir: Path, name: str) -> Iterator[None]:
    """One exporter at a time (the server and a CLI ingest may start together)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / f".{name}-{BACKEND}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _trace_pooled(source_dir: Path, out: Path) -> None:
    """torch -> ONNX: token ids and mask in, L2-normalised mean-pooled rows out."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(
        str(source_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(bert),
            (ids, torch.ones_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "sentence_embedding": {0: "batch"},
            },
            opset_version=_OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
            do_constant_folding=True,
        )


def has_vnni() -> bool:
    """AVX-512 VNNI or AVX-VNNI: int8 dot products without the u8*s8 overflow of plain AVX2."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _quantise(src: Path, out: Path) -> None:
    """Dynamic int8: weights once, per output channel; activations scaled per batch.

    Per channel, because one scale per tensor loses too much (cosine to torch
    0.94 instead of 0.992 in our measurements). Without VNNI, weights keep 7
    bits (``reduce_range``) so AVX2's u8*s8 pair sums cannot saturate.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=not has_vnni(),
    )


def export_int8(source_dir: Path, dest_dir: Path) -> Path:
    """Build ``dest_dir/model.onnx`` from ``source_dir``; atomic: the folder appears whole."""
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent))
    try:
        _trace_pooled(source_dir, work / "fp32.onnx")
        final = work / "out"
        final.mkdir()
        _quantise(work / "fp32.onnx", final / MODEL_FILE)
        os.chmod(final, 0o755)
        if dest_dir.exists():
            shutil.rmtree(dest_dir)
        os.replace(final, dest_dir)
    except ModelError:
        raise
    except Exception as exc:  # torch / onnx / onnxruntime raise anything
        raise ModelError(
            f"could not export {source_dir.name} to ONNX: {type(exc).__name__}: {exc}",
            hint="set embedding_backend = 'torch' to run without the ONNX export",
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest_dir / MODEL_FILE


def ensure_onnx_int8(spec: ModelSpec, models_dir: Path) -> OnnxModel:
    """The int8 export of the catalogue model ``spec``, from its verified weights."""
    source_dir = verify_installed(spec, models_dir)
    return ensure_int8_export(spec.name, source_dir, source_sha256(spec), models_dir)


def ensure_int8_export(name: str, source_dir: Path, source_sha: str, models_dir: Path) -> OnnxModel:
    """The int8 export of model ``name`` (its weights in ``source_dir``, just verified by
    the caller, hash ``source_sha``), made from them if missing or stale.

    Returns the path with the hash it must have; the loader (``OnnxEmbedder``)
    hashes the exact bytes it loads against it. An export whose size is not
    the stamped one is refused here already. A missing stamp means an unknown
    file: it is replaced by a fresh export, never loaded.
    """
    dest, stamp_file = export_dir(name, models_dir), stamp_path(name, models_dir)
    with _export_lock(models_dir, name):
        stamp = read_stamp(stamp_file)
        model = dest / MODEL_FILE
        current = stamp.get("source_sha256") == source_sha and stamp.get("recipe") == RECIPE
        if not model.is_file() or not current:
            stamp_file.unlink(missing_ok=True)
            model = export_int8(source_dir, dest)
            write_stamp(
                stamp_file,
                sha256=sha256_file(model),
                source_sha256=source_sha,
                size=model.stat().st_size,
            )
            stamp = read_stamp(stamp_file)
        expected = str(stamp.get("sha256", ""))
        if model.stat().st_size != stamp.get("size"):
            raise tampered(model, expected, f"{model.stat().st_size} bytes")
    return OnnxModel(path=model, sha256=expected, source_dir=source_dir)


def tampered(path: Path, expected: str, actual: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"the ONNX export {path} was changed after it was made: expected SHA-256 "
        f"{expected}, got {actual}",
        hint=f"do not load it; delete {path.parent} to have it re-exported from the "
        "verified weights, and find out who changed it",
    )
