"""Embedders: shapes and normalisation, the int8 ONNX export against torch, tamper refusal,
and the store refusing vectors of another embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import EmbedderMismatch, ModelIntegrityError
from assistant.models.catalog import get_spec
from assistant.models.embed import (
    HashEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from assistant.models.onnx_export import (
    MODEL_FILE,
    RECIPE,
    ensure_onnx_int8,
    export_dir,
    read_stamp,
    sha256_file,
    source_sha256,
    stamp_path,
    write_stamp,
)
from assistant.store.documents import Store
from tests.conftest import MODELS

SENTENCES = [
    "The invoice must be paid within thirty days of receipt.",
    "Employees may work from home two days a week with their manager's approval.",
    "The backup server replicates the database every night at 02:00.",
    "Arthur's Magazine was an American literary periodical published in Philadelphia.",
    "",
    "Kurz: Reisekosten werden nur mit Beleg erstattet.",
]
MINILM = get_spec("all-minilm-l6-v2")


def _minilm_installed() -> bool:
    return (MODELS / MINILM.name / "model.safetensors").is_file()


needs_minilm = pytest.mark.skipif(not _minilm_installed(), reason="all-minilm-l6-v2 not installed")


def test_hash_embedder_rows_are_unit_length() -> None:
    vecs = HashEmbedder().embed(SENTENCES[:3])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


@needs_minilm
def test_export_of_another_size_than_its_stamp_is_refused(tmp_path: Path) -> None:
    """A present, current export is checked against its stamp before anything loads it."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(MODELS / MINILM.name, models / MINILM.name)
    dest = export_dir(MINILM, models)
    dest.mkdir()
    (dest / MODEL_FILE).write_bytes(b"exported bytes, then appended to")
    write_stamp(
        stamp_path(MINILM, models),
        sha256=sha256_file(dest / MODEL_FILE),
        source_sha256=source_sha256(MINILM),
        size=14,
    )
    assert read_stamp(stamp_path(MINILM, models))["recipe"] == RECIPE
    with pytest.raises(ModelIntegrityError, match="changed after it was made"):
        ensure_onnx_int8(MINILM, models)


def test_tampered_onnx_file_is_refused_before_loading(tmp_path: Path) -> None:
    """The loader hashes the exact bytes it would hand to ONNX Runtime."""
    model = tmp_path / MODEL_FILE
    model.write_bytes(b"exported bytes")
    good = sha256_file(model)
    model.write_bytes(b"exported bytez")  # same size, other content
    embedder = OnnxEmbedder(model, good, MODELS / MINILM.name, name="x@onnx-int8")
    with pytest.raises(ModelIntegrityError, match="changed after it was made"):
        embedder.embed(["anything"])


def test_store_refuses_vectors_of_another_embedder(tmp_path: Path) -> None:
    store = Store(tmp_path / "chunks.sqlite")
    try:
        store.bind_embedder("all-minilm-l6-v2@onnx-int8")
        store.bind_embedder("all-minilm-l6-v2@onnx-int8")  # same one: fine
        assert store.embedder_name() == "all-minilm-l6-v2@onnx-int8"
        with pytest.raises(EmbedderMismatch, match="one embedder"):
            store.bind_embedder("all-minilm-l6-v2@torch")
    finally:
        store.close()


def test_resources_refuse_an_index_made_by_another_backend(resources: object) -> None:
    from assistant.resources import Resources

    assert isinstance(resources, Resources)
    resources.store.bind_embedder("all-minilm-l6-v2@torch")
    with pytest.raises(EmbedderMismatch):
        _ = resources.index  # the injected HashEmbedder is another embedder


@pytest.mark.slow
@needs_minilm
def test_onnx_int8_matches_torch_and_refuses_tampering(tmp_path: Path) -> None:
    """Export into a private models dir (offline, from the verified weights), compare, tamper."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(MODELS / MINILM.name, models / MINILM.name)
    onnx = make_embedder(MINILM, models, backend="onnx-int8")
    torch_ = make_embedder(MINILM, models, backend="torch", batch_size=4)
    assert isinstance(onnx, OnnxEmbedder) and isinstance(torch_, SentenceTransformerEmbedder)
    assert onnx.name == "all-minilm-l6-v2@onnx-int8" and torch_.name == "all-minilm-l6-v2@torch"

    fast, ref = onnx.embed(SENTENCES), torch_.embed(SENTENCES)
    assert fast.shape == ref.shape == (len(SENTENCES), 384) and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, rtol=1e-5)
    cosine = (fast * ref).sum(axis=1)
    assert np.delete(cosine, SENTENCES.index("")).min() >= 0.98
    assert cosine[SENTENCES.index("")] >= 0.95  # [CLS][SEP] only: the most quantisation noise
    assert onnx.embed([]).shape == (0, 384)
    # a text embeds the same alone as among others (int8 activations are scaled per run)
    np.testing.assert_allclose(onnx.embed(SENTENCES[2:3]), fast[2:3], atol=1e-6)
    batched = OnnxEmbedder(onnx.model_file, onnx.sha256, onnx.tokenizer_dir, name="b", batch_size=4)
    assert (batched.embed(SENTENCES) * ref).sum(axis=1).min() >= 0.95  # padded batches work too

    # already exported: found, not made again
    model_file = export_dir(MINILM, models) / MODEL_FILE
    mtime = model_file.stat().st_mtime_ns
    assert ensure_onnx_int8(MINILM, models).path == model_file
    assert model_file.stat().st_mtime_ns == mtime

    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        make_embedder(MINILM, models, backend="onnx-int8", batch_size=4).embed(["x"])

    model_file.unlink()  # missing: re-created from the verified weights
    again = make_embedder(MINILM, models, backend="onnx-int8", batch_size=4)
    assert (again.embed(SENTENCES[:2]) * ref[:2]).sum(axis=1).min() >= 0.98
