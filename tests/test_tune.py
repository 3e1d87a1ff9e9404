"""Tuning the embedder (``assistant tune``): the seeded sample, the questions kept, the
tuned model pinned by its manifest and name, and -- slow -- the whole run with the real
tiny chat model and MiniLM: tuned, verified, recorded, re-embedded."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.errors import DatasetError, ModelCrashed, ModelIntegrityError
from assistant.models.catalog import get_spec
from assistant.models.embed import make_embedder
from assistant.models.onnx_export import source_sha256
from assistant.models.requant import serving_file
from assistant.models.tuned import MANIFEST, install_tuned, root_of, tuned_names, verify_tuned
from assistant.resources import Resources
from ingest.tuning.questions import clean_question, generate_questions, sample_chunks
from tests.conftest import MODELS, SAMPLE, TEST_MODEL


def _fake_model(folder: Path) -> None:
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')


def _install(models: Path, lineage: dict[str, object] | None = None) -> str:
    work = Path(tempfile.mkdtemp(prefix=".tune-", dir=models))
    _fake_model(work)
    tuned = install_tuned(
        work,
        models,
        base="all-minilm-l6-v2",
        base_weights_sha256="b" * 64,
        weights="model.safetensors",
        lineage=lineage or {"seed": 0},
    )
    assert not work.exists()
    return tuned.name


def test_a_tuned_model_is_named_after_its_manifest_which_pins_every_file(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    name = _install(models)
    assert re.fullmatch(r"all-minilm-l6-v2-tuned-[0-9a-f]{16}", name)
    tuned = verify_tuned(name, models)
    assert tuned.manifest_sha256.startswith(name[-16:])
    assert (
        tuned.manifest_sha256 == hashlib.sha256((models / name / MANIFEST).read_bytes()).hexdigest()
    )
    weights = (models / name / "model.safetensors").read_bytes()
    assert tuned.weights_sha256 == hashlib.sha256(weights).hexdigest()
    assert set(tuned.files) == {"config.json", "model.safetensors", "1_Pooling/config.json"}
    assert (tuned.base, tuned.lineage) == ("all-minilm-l6-v2", {"seed": 0})
    assert tuned_names(models) == [name]
    assert root_of(name) == "all-minilm-l6-v2" == root_of("all-minilm-l6-v2")
    assert _install(models) == name  # the same files and lineage: the same model
    assert _install(models, {"seed": 1}) != name  # another lineage: another name


def test_a_changed_extra_or_missing_file_or_manifest_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    name = _install(models)
    folder = models / name
    weights = folder / "model.safetensors"
    good = weights.read_bytes()

    weights.write_bytes(bytes([good[0] ^ 1]) + good[1:])  # one bit, same size
    with pytest.raises(ModelIntegrityError, match=r"changed model\.safetensors"):
        verify_tuned(name, models)
    with pytest.raises(ModelIntegrityError):  # the loading path verifies first
        make_embedder(name, models, backend="torch")
    weights.write_bytes(good)

    (folder / "pytorch_model.bin").write_bytes(b"other weights")
    with pytest.raises(ModelIntegrityError, match=r"does not list: pytorch_model\.bin"):
        verify_tuned(name, models)
    (folder / "pytorch_model.bin").unlink()

    manifest = folder / MANIFEST
    body = json.loads(manifest.read_text())
    body["lineage"]["seed"] = 7  # a consistent manifest, but not the one the name pins
    manifest.write_text(json.dumps(body))
    with pytest.raises(ModelIntegrityError, match="not the one its name pins"):
        verify_tuned(name, models)


def test_the_sample_is_seeded_and_can_keep_to_one_collection(resources: Resources) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    first = [c.id for c, _ in sample_chunks(resources.store, 5, seed=1)]
    assert len(first) == 5 and len(set(first)) == 5
    assert [c.id for c, _ in sample_chunks(resources.store, 5, seed=1)] == first
    assert [c.id for c, _ in sample_chunks(resources.store, 5, seed=2)] != first
    assert sample_chunks(resources.store, 5, seed=1, collection="elsewhere") == []
    everything = sample_chunks(resources.store, 10_000, seed=1, collection="sample")
    assert all(len(c.text) >= 80 for c, _ in everything)


class Scripted:
    """A deterministic Generator: the next reply of its script (an error is raised)."""

    name = "scripted"

    def __init__(self, replies: Sequence[str | Exception]) -> None:
        self.replies = list(replies)
        self.seen: list[str] = []
        self.stopped = 0

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.seen.append(messages[-1]["content"])
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        for char in reply:  # a piece at a time, stopping when told, as the model does
            if cancel is not None and cancel.is_set():
                self.stopped += 1
                return
            yield char


def test_one_question_per_chunk_and_failed_empty_or_copied_ones_are_skipped(
    resources: Resources,
) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    chunks = sample_chunks(resources.store, 5, seed=0)
    copied = " ".join(chunks[3][0].text.split()[:8])
    gen = Scripted(
        [
            "Question: How many days of leave do I get?\nAnswer: 27",
            ModelCrashed("the model process died"),
            "   ",
            copied,
            '1. "Who signs off my travel costs?"',
        ]
    )
    done: list[tuple[int, int, int]] = []
    out = generate_questions(gen, chunks, progress=lambda *a: done.append(a))
    assert [p.question for p in out.pairs] == [
        "How many days of leave do I get?",
        "Who signs off my travel costs?",
    ]
    assert out.skipped == {"failed": 1, "empty": 1, "unusable": 1}
    assert [p.chunk_id for p in out.pairs] == [chunks[0][0].id, chunks[4][0].id]
    assert done[-1] == (5, 5, 2)
    assert gen.seen[0].startswith("Passage:\n")
    assert gen.stopped == 1  # after the first line of the first reply: "Answer: 27" unread


def test_clean_question() -> None:
    assert clean_question("**Q: What is the VPN for?**", "x") == "What is the VPN for?"
    assert clean_question("What?", "x") is None  # too short to be a question
    assert clean_question("Here is a revised version of the passage:", "x") is None
    assert clean_question("\n\nWhen are expenses refunded?\n", "x") == "When are expenses refunded?"


# -- the whole run, with the real models -----------------------------------------------
def _installed(name: str) -> bool:
    spec = get_spec(name)
    return all((MODELS / name / f.relpath).is_file() for f in spec.files)


@pytest.mark.slow
@pytest.mark.skipif(
    not (_installed("all-minilm-l6-v2") and _installed(TEST_MODEL)),
    reason="all-minilm-l6-v2 and smollm2-135m must be installed",
)
def test_tune_end_to_end_with_the_tiny_chat_model_and_minilm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.cli.main import cli
    from assistant.eval.dataset import load_dataset
    from assistant.settings import Settings

    models = tmp_path / "models"  # the tuned model is written here, never to the shared dir
    models.mkdir()
    for name in ("all-minilm-l6-v2", TEST_MODEL):
        (models / name).symlink_to(MODELS / name, target_is_directory=True)
    env = {
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_MODELS_DIR": str(models),
        "ASSISTANT_MODEL": TEST_MODEL,
        "ASSISTANT_EMBEDDING_BACKEND": "torch",  # the ONNX export would add a minute
        "ASSISTANT_CHUNK_SIZE": "600",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    res = Resources(settings)
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        chunks = res.store.counts()["chunks"]
    finally:
        res.close()

    args = ["tune", "--sample", "8", "--epochs", "1", "--batch-size", "4", "--seed", "3"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (name,) = tuned_names(models)
    assert f"ASSISTANT_EMBEDDING_MODEL={name}" in result.output

    tuned = verify_tuned(name, models)
    lineage = tuned.lineage
    assert lineage["base"]["name"] == "all-minilm-l6-v2"
    assert lineage["base"]["weights_sha256"] == source_sha256(get_spec("all-minilm-l6-v2"))
    assert lineage["chat_model"] == {
        "name": TEST_MODEL,
        "sha256": serving_file(get_spec(TEST_MODEL), models)[1],  # the file it answered with
    }
    assert (lineage["sample"], lineage["sampled"], lineage["seed"]) == (8, 8, 3)
    assert 2 <= lineage["pairs"] <= 8 and lineage["epochs"] == 1
    questions = tuned.path / lineage["questions_file"]
    assert len(questions.read_text().splitlines()) == lineage["pairs"]
    with pytest.raises(DatasetError):  # never an eval set
        load_dataset(questions)

    res = Resources(settings)
    try:
        records = {r.kind: r for r in res.audit.records()}
        tuned_rec, swap = records["embedder_tuned"], records["reembedded"]
        assert tuned_rec.data["model"] == name
        assert tuned_rec.data["manifest_sha256"] == tuned.manifest_sha256
        assert tuned_rec.data["files"] == dict(tuned.files)
        assert tuned_rec.data["pairs"] == lineage["pairs"]
        assert swap.data["old_embedder"] == "all-minilm-l6-v2@torch"
        assert swap.data["new_embedder"] == f"{name}@torch"
        assert swap.data["new_weights_sha256"] == tuned.weights_sha256
        assert swap.data["chunks"] == chunks
        assert res.store.embedder_name() == f"{name}@torch"
    finally:
        res.close()

    served = Resources(settings.model_copy(update={"embedding_model": name}))
    try:
        hits = served.retriever.retrieve("How many days of paid annual leave do employees get?")
        assert hits and served.index.ntotal == chunks
    finally:
        served.close()

    config = tuned.path / "config.json"
    config.write_text(config.read_text() + " ")  # one byte more: refused before loading
    with pytest.raises(ModelIntegrityError):
        Resources(settings.model_copy(update={"embedding_model": name})).embedder.embed(["x"])
