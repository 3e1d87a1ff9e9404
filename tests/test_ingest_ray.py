"""Distributed ingest on a real two-node Ray cluster, started here on loopback.

The cluster (tests/ray_cluster.py: ``ray start --head`` and a second ``ray start
--address``, 1 CPU each, no dashboard, no usage stats) lives for the session and is
torn down at its end. Real parser child processes on the workers, real SQLite and
FAISS on the writer; the model-free hash embedders, named in the settings so every
worker builds the same ones (a worker embedding otherwise is refused).
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli.main import cli
from assistant.errors import EmbedderMismatch
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.store.journal import Journal
from ingest.pipeline import Ingestor
from ingest.ray_prepare import TASK_NAME, RayPreparer
from ingest.remote import PrepareSpec
from tests.conftest import MODELS, SAMPLE
from tests.ingest_corpus import bad_corpus, mixed_corpus
from tests.ray_cluster import LocalCluster
from tests.test_ingest_parallel import long_pdf

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(ray_cluster: LocalCluster) -> LocalCluster:
    """The session's two-node cluster (tests/ray_cluster.py), shared with the replica tests."""
    return ray_cluster


def _settings(data: Path, **extra: object) -> Settings:
    return Settings(
        data_dir=data,
        models_dir_override=MODELS,
        chunk_size=600,
        embedding_model="hash",
        multilingual_embedding_model="hash",
        parse_workers=2,
        **extra,  # type: ignore[arg-type]
    )


def _corpus(folder: Path, n: int) -> Path:
    """data/sample and ``n`` generated documents, a copy of one among them."""
    mixed_corpus(folder, n, sample=SAMPLE)
    shutil.copy(folder / "travel-faq.txt", folder / "travel-faq-copy.txt")  # a duplicate
    return folder


def _state(res: Resources) -> tuple[list[tuple[object, ...]], ...]:
    """What the index holds: documents, chunks with their vectors (both embedders), paths;
    and exactly one FAISS vector per chunk in each index."""
    with res.store.connection() as db:
        docs = sorted(db.execute("SELECT id, title, collection, size FROM documents").fetchall())
        chunks = sorted(db.execute("SELECT * FROM chunks").fetchall())
        second = sorted(db.execute("SELECT * FROM multilingual_vectors").fetchall())
        paths = sorted(
            (Path(r[0]).name, r[1]) for r in db.execute("SELECT path, doc_id FROM doc_paths")
        )
    for index in (res.index, res.multilingual_index):
        assert index is not None and index.ntotal == len(chunks)  # none missing, none twice
    return docs, chunks, second, paths


def test_ray_ingest_builds_the_index_the_local_one_does_over_both_nodes(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    corpus = _corpus(tmp_path / "corpus", 24)
    local = Resources(_settings(tmp_path / "local"))
    remote = Resources(_settings(tmp_path / "ray", ray_address=cluster.address))
    try:
        expected = local.ingestor.ingest([corpus], "docs")
        ingestor = remote.ingestor
        assert isinstance(ingestor.remote, RayPreparer)
        assert ingestor.remote.workers == 2  # one CPU on each node
        got = ingestor.ingest([corpus], "docs")
        assert got.summary()["added"] == expected.summary()["added"] == 29
        assert len(got.duplicates) == 1 and not got.quarantined
        assert _state(remote) == _state(local)
        assert len(ingestor.remote.nodes) == 2, ingestor.remote.nodes  # tasks on both nodes
        assert sum(ingestor.remote.nodes.values()) == 29
        assert all(e.state == "committed" for e in Journal(remote.store).entries())
        again = ingestor.ingest([corpus], "docs")  # unchanged: nothing reaches the cluster
        assert len(again.skipped) == 30 and sum(ingestor.remote.nodes.values()) == 29
    finally:
        local.close()
        remote.close()


def test_killing_a_worker_mid_file_costs_a_retry_never_a_document(
    cluster: LocalCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "pdfs"
    corpus.mkdir()
    for i in range(16):
        long_pdf(corpus / f"manual-{i}.pdf", 6, seed=i)
    res = Resources(_settings(tmp_path / "data", ray_address=cluster.address))
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = res.ingestor.ingest([corpus], "manuals")
        except BaseException as exc:
            outcome["error"] = exc

    killed: list[int] = []
    try:
        with caplog.at_level(logging.WARNING, logger="ingest.pipeline"):
            thread = threading.Thread(target=run)
            thread.start()
            while thread.is_alive() and not killed:
                for proc in cluster.workers(f"ray::{TASK_NAME}"):
                    proc.send_signal(signal.SIGKILL)  # the worker process, mid-task
                    killed.append(proc.pid)
                    break
                time.sleep(0.02)
            thread.join(timeout=600)
        assert killed, "no task was caught running"
        assert "error" not in outcome, outcome.get("error")
        report = outcome["report"]
        assert len(report.added) == 16 and not report.quarantined  # type: ignore[attr-defined]
        assert not [r for r in caplog.records if "the cluster failed it" in r.message]  # retried
        docs, chunks, _, paths = _state(res)
        assert len(docs) == 16 and [p[0] for p in paths] == sorted(p.name for p in corpus.iterdir())
        assert len({c[0] for c in chunks}) == len(chunks)
        assert all(e.state == "committed" for e in Journal(res.store).entries())
        assert not Journal(res.store).unfinished()
        assert not list(res.settings.quarantine_dir.glob("*.json"))
    finally:
        res.close()


def _quarantine(settings: Settings) -> dict[str, tuple[str, str, str, str | None]]:
    out = {}
    for p in settings.quarantine_dir.glob("*.json"):
        e = json.loads(p.read_text())
        out[Path(e["path"]).name] = (e["code"], e["error"], e["message"], e["hint"])
    return out


def test_bad_input_through_ray_gets_the_local_quarantine_entries(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    expected = bad_corpus(folder)
    strict = {"max_file_mb": 1, "tesseract_cmd": "/nonexistent/tesseract", "parse_timeout_s": 120}
    local = _settings(tmp_path / "local", **strict)
    res = Resources(local)
    try:
        res.ingestor.ingest([folder], "mixed")
    finally:
        res.close()
    runner = CliRunner()
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "ray"), "ASSISTANT_MODELS_DIR": str(MODELS),
           "ASSISTANT_EMBEDDING_MODEL": "hash", "ASSISTANT_MULTILINGUAL_EMBEDDING_MODEL": "hash",
           "ASSISTANT_CHUNK_SIZE": "600", "ASSISTANT_MAX_FILE_MB": "1",
           "ASSISTANT_TESSERACT_CMD": "/nonexistent/tesseract"}  # fmt: skip
    done = runner.invoke(
        cli, ["ingest", str(folder), "--collection", "mixed", "--json", "--ray", cluster.address],
        env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output.strip().splitlines()[-1])
    assert summary["quarantined"] == sum(1 for v in expected.values() if v != "ok")
    through_ray = _quarantine(_settings(tmp_path / "ray"))
    assert through_ray == _quarantine(local)
    assert {k: v[0] for k, v in through_ray.items()} == {
        k: v for k, v in expected.items() if v != "ok"
    }


def test_a_worker_embedding_otherwise_is_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The canteen serves soup every Tuesday.")
    res = Resources(_settings(tmp_path / "data"))
    spec = PrepareSpec.from_settings(res.settings)
    remote = RayPreparer(cluster.address, spec, embedder="hash-384", multilingual="another")
    ingestor = Ingestor(
        res.store,
        res.index,
        res.embedder,
        chunk_size=600,
        quarantine_dir=res.settings.quarantine_dir,
        max_file_bytes=2**20,
        multilingual_index=res.multilingual_index,
        multilingual_embedder=res.multilingual_embedder,
        remote=remote,
    )
    try:
        with pytest.raises(EmbedderMismatch):
            ingestor.ingest([tmp_path / "a.txt"], "x")
        assert res.store.counts()["documents"] == 0
    finally:
        ingestor.close()
        res.close()
