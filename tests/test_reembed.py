"""Re-embedding (ingest/reembed.py): every chunk with another embedder beside the live
index, then one swap of vectors, index and bound embedder; an interrupted run leaves the
old index as it was; writers that read the index before a swap do not undo it.

Real SQLite, FAISS and parsers under tmp_path; two deterministic embedders (hash, 384 and
256 dimensions) stand in for two models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from assistant.cli.tune import reembed_with_progress, with_embedder
from assistant.errors import ConfigError, EmbedderMismatch, IndexBusy
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.store import recovery
from assistant.store.documents import Store
from ingest.files import embedding_text
from ingest.reembed import reembed
from tests.conftest import SAMPLE

QUESTION = "paid annual leave days full-time employees entitled"
ALL = -1  # below every vector id


class FailsAfter:
    """Embeds like ``inner`` for ``batches`` calls, then raises: a crash mid-way."""

    def __init__(self, inner: HashEmbedder, batches: int) -> None:
        self.inner, self.batches, self.calls = inner, batches, 0
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        if self.calls > self.batches:
            raise RuntimeError("the embedder died")
        return self.inner.embed(texts)


def _faiss(settings: Settings) -> Path:
    return settings.index_dir / "vectors.faiss"


def _snapshot(settings: Settings) -> tuple[object, ...]:
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        ids, vecs = store.all_vectors(384)
        state = (store.embedder_name(), store.generation(), ids.tolist(), vecs.tobytes())
    finally:
        store.close()
    faiss_file = _faiss(settings)
    generation = faiss_file.with_name(faiss_file.name + ".generation")
    return (*state, faiss_file.read_bytes(), generation.read_bytes())


def test_reembed_swaps_vectors_index_and_embedder_together(
    resources: Resources, settings: Settings
) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    chunks = dict(resources.store.chunks_after(ALL, 10_000))
    generation = resources.store.generation()
    resources.close()  # lets go of the writer lock, as `assistant ingest` does on exit

    new = HashEmbedder(dim=256)
    res = Resources(settings, embedder=new)
    try:
        report = reembed_with_progress(res, new)
        assert report is not None
        assert (report.old_embedder, report.new_embedder) == ("hash-384", "hash-256")
        assert report.chunks == len(chunks) > 0
        store = res.store
        assert store.embedder_name() == "hash-256"
        assert store.generation() == generation + 1
        # the store's vectors: each chunk's text as ingest embeds it, under its own vid
        ids, vecs = store.all_vectors(256)
        assert sorted(ids.tolist()) == sorted(chunks)
        expected = new.embed([embedding_text(chunks[int(v)]) for v in ids])
        np.testing.assert_allclose(vecs, expected, atol=1e-6)
        # the FAISS file was saved at that generation: it opens without a rebuild ...
        assert recovery.saved_generation(res.index) == store.generation()
        assert res.index.ntotal == len(chunks)
        held = res.index.vectors(list(chunks))
        for vid, chunk in chunks.items():  # ... and maps every vid to its chunk's new vector
            np.testing.assert_allclose(held[vid], new.embed([embedding_text(chunk)])[0], atol=1e-6)
        top = res.retriever.retrieve(QUESTION)[0]
        assert top.chunk.section == "Annual Leave"
        # audited, with both names
        (rec,) = [r for r in res.audit.records() if r.kind == "reembedded"]
        assert rec.data["old_embedder"] == "hash-384" and rec.data["new_embedder"] == "hash-256"
        assert rec.data["chunks"] == len(chunks) and rec.data["generation"] == generation + 1
        # the same embedder again: nothing to do
        assert reembed_with_progress(res, new) is None
    finally:
        res.close()

    stale = Resources(settings, embedder=HashEmbedder())
    try:
        with pytest.raises(EmbedderMismatch, match="reembed"):
            _ = stale.index  # queries of the old embedder are refused now
    finally:
        stale.close()


def test_an_interrupted_reembed_leaves_the_old_index_as_it_was(
    resources: Resources, settings: Settings
) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    answer = [(h.chunk.id, h.score) for h in resources.retriever.retrieve(QUESTION)]
    total = resources.store.counts()["chunks"]
    resources.close()
    assert total > 3 * 4, "enough chunks to stop mid-way"
    before = _snapshot(settings)

    store = Store(settings.index_dir / "chunks.sqlite")
    failing = FailsAfter(HashEmbedder(dim=256), batches=2)
    seen: list[int] = []
    try:
        with pytest.raises(RuntimeError, match="died"):
            reembed(store, _faiss(settings), failing, page=4, progress=lambda d, t: seen.append(d))
    finally:
        store.close()
    assert failing.calls == 3 and seen == [0, 4, 8]  # stopped in the middle

    assert _snapshot(settings) == before  # vectors, embedder, generation, FAISS file
    assert not list(settings.index_dir.glob("*.tmp"))
    res = Resources(settings, embedder=HashEmbedder())
    try:  # the old index opens as it was saved and answers as before
        assert recovery.saved_generation(res.index) == res.store.generation()
        assert [(h.chunk.id, h.score) for h in res.retriever.retrieve(QUESTION)] == answer
        # the writer lock was let go: the next run completes
        assert reembed(res.store, _faiss(settings), HashEmbedder(dim=256)).chunks == total
    finally:
        res.close()


def test_reembed_is_refused_while_another_process_writes_the_index(
    resources: Resources, settings: Settings
) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")  # its writer holds the lock, like a watcher
    with pytest.raises(IndexBusy):
        reembed(resources.store, _faiss(settings), HashEmbedder(dim=256))
    assert resources.store.embedder_name() == "hash-384"


def test_a_writer_that_read_the_index_before_a_reembed_is_refused_after_it(
    resources: Resources, settings: Settings, sample_copy: Path
) -> None:
    resources.ingestor.ingest([sample_copy], "sample")
    resources.close()
    stale = Resources(settings, embedder=HashEmbedder())
    try:
        ingestor = stale.ingestor  # the index is read; the lock is taken at the first write
        other = Resources(settings, embedder=HashEmbedder(dim=256))
        try:
            reembed_with_progress(other, other.embedder)
        finally:
            other.close()
        (sample_copy / "canteen.txt").write_text("The canteen opens at 11:30 on weekdays.\n")
        with pytest.raises(EmbedderMismatch):  # its vectors would not compare with the rest
            ingestor.ingest([sample_copy], "sample")
    finally:
        stale.close()
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        assert store.embedder_name() == "hash-256"
        assert not [p for p in store.paths_under([str(sample_copy)]) if "canteen" in p]
    finally:
        store.close()


def test_the_embedder_option_names_a_model_and_maybe_a_backend(settings: Settings) -> None:
    tuned = with_embedder(settings, "all-minilm-l6-v2-tuned-0123456789abcdef@torch")
    assert tuned.embedding_model == "all-minilm-l6-v2-tuned-0123456789abcdef"
    assert tuned.embedding_backend == "torch"
    assert with_embedder(settings, "all-minilm-l6-v2").embedding_backend == "onnx-int8"
    assert with_embedder(settings, None) is settings
    with pytest.raises(ConfigError):
        with_embedder(settings, "all-minilm-l6-v2@gpu")


def test_readiness_says_a_server_must_restart_after_a_reembed(
    resources: Resources, settings: Settings
) -> None:
    from assistant.answering.generator import EchoGenerator
    from assistant.observability.readiness import Readiness

    resources.ingestor.ingest([SAMPLE], "sample")
    resources.close()
    other = Resources(settings, embedder=HashEmbedder(dim=256))
    try:
        reembed_with_progress(other, other.embedder)
        for loaded, restart in ((resources.embedder, True), (other.embedder, False)):
            ready, checks = Readiness(
                counts=other.store.counts,
                embedder=lambda e=loaded: e,
                model="echo",
                generator=EchoGenerator,
                index_embedder=other.store.embedder_name,
            ).check()
            assert ready  # it still answers, from the index it loaded
            assert ("restart_needed" in checks) is restart
            if restart:
                assert "hash-256" in checks["restart_needed"]
    finally:
        other.close()
