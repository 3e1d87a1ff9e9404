"""A running reader sees what another process commits -- an ingest, a changed file, an
erasure -- without a restart and without rebuilding its index (assistant/store/follow.py).

The writer is a second Python process on the same data folder, as ``assistant ingest``
beside ``assistant serve`` is; both use the deterministic hash embedder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from assistant.answering.generator import EchoGenerator
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.store.follow import Follower

ROOT = Path(__file__).resolve().parent.parent
POLICY = "# VPN\n\nThe vpn password must be changed every {days} days by each employee.\n"


def _in_another_process(settings: Settings, code: str) -> None:
    """Run ``code`` with ``res`` (Resources on ``settings``' folder) in a new interpreter."""
    body = textwrap.indent(textwrap.dedent(code).strip() + "\n", "    ")
    script = (
        textwrap.dedent(
            f"""
        from pathlib import Path
        from assistant.models.embed import HashEmbedder
        from assistant.resources import Resources
        from assistant.settings import Settings
        settings = Settings(data_dir=Path({str(settings.data_dir)!r}),
                            models_dir_override=Path({str(settings.models_dir)!r}),
                            chunk_size={settings.chunk_size}, min_score={settings.min_score})
        res = Resources(settings, embedder=HashEmbedder())
        try:
        """
        )
        + body
        + "finally:\n    res.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _found(res: Resources, question: str, name: str, *, within_s: float = 15.0) -> float:
    """Seconds until ``question`` retrieves ``name`` first (AssertionError after ``within_s``)."""
    start = time.monotonic()
    while time.monotonic() - start < within_s:
        hits = res.retriever.retrieve(question)
        if hits and Path(hits[0].document.path).name == name:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{name} not found for {question!r} within {within_s} s")


def test_a_running_reader_sees_another_process_ingest_change_and_erase(
    settings: Settings, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "parking.txt").write_text("Visitors park in the north car park behind reception.\n")
    reader = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        reader.ingestor.ingest([docs], "c")  # the server's own first ingest, then it serves
        reader.ingestor.close()
        assert _found(reader, "Where do visitors park?", "parking.txt") < 1.0
        question = "How often must the vpn password be changed?"
        assert not any(
            Path(h.document.path).name == "vpn.md" for h in reader.retriever.retrieve(question)
        )
        index_before = reader.index

        vpn = docs / "vpn.md"  # a heading: the echo stand-in answers from labelled sources
        vpn.write_text(
            "# VPN\n\nThe vpn password must be changed every 90 days by each employee.\n"
        )
        _in_another_process(settings, f"res.ingestor.ingest([Path({str(docs)!r})], 'c')")
        _found(reader, question, "vpn.md")
        assert reader.index is index_before  # followed in place, not reopened

        answer = reader.answers.answer(question)  # the whole pipeline, not only retrieval
        assert not answer.refused and "90 days" in answer.answer

        vpn.write_text(
            "# VPN\n\nThe vpn password must be changed every 30 days by each employee.\n"
        )
        _in_another_process(settings, f"res.ingestor.ingest([Path({str(docs)!r})], 'c')")
        deadline = time.monotonic() + 15
        while "30 days" not in reader.answers.answer(question).answer:
            assert time.monotonic() < deadline, "the changed file was not followed"
            time.sleep(0.2)

        _in_another_process(settings, f"res.ingestor.forget([{str(vpn)!r}])")
        deadline = time.monotonic() + 15
        while any("vpn" in h.chunk.text for h in reader.retriever.retrieve(question)):
            assert time.monotonic() < deadline, "the erased file is still searched"
            time.sleep(0.2)
        # Retrieval drops an erased chunk at once (the store no longer has it); the index
        # lets go of its vectors at the follower's next look, at most a second later, which
        # a search triggers. Then it holds exactly the store's vectors.
        while set(reader.index.ids().tolist()) != set(reader.store.vector_ids().tolist()):
            assert time.monotonic() < deadline, "the index still holds the erased vectors"
            reader.retriever.retrieve(question)
            time.sleep(0.2)
        assert reader.index is index_before  # followed in place, not reopened
    finally:
        reader.close()


def test_the_follower_reads_only_what_changed(resources: Resources, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"note{i}.txt").write_text(f"Note {i}: the canteen menu number {i} is soup.\n")
    resources.ingestor.ingest([docs], "c")
    index, store = resources.index, resources.store
    follower = Follower(store, [index], every_s=60.0)
    assert not follower.check(now=time.monotonic() + 120)  # nothing moved
    vid = int(index.ids()[0])
    index.remove([vid])  # the index lost one vector the store still holds
    index.add(np.array([10**12]), np.ones((1, index.dim), np.float32))  # and holds a stray one
    assert not follower.check()  # too soon after the last look: not even asked
    with store.transaction() as db:  # any commit moves the generation
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    assert follower.check(now=time.monotonic() + 240)
    assert sorted(index.ids().tolist()) == sorted(store.vector_ids().tolist())
    assert vid in set(index.ids().tolist())


def test_the_follower_leaves_the_index_to_this_process_writer(
    resources: Resources, tmp_path: Path
) -> None:
    """While this process writes, its writer keeps the index in step (it adds a file's
    vectors just before the store commit): the follower must not take them out."""
    index, store = resources.index, resources.store
    stray = np.array([10**12])
    writer = Follower(store, [index], every_s=0.0, writing=lambda: True)
    reader = Follower(store, [index], every_s=0.0)
    index.add(stray, np.ones((1, index.dim), np.float32))  # "added, about to be committed"
    with store.transaction() as db:
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    assert not writer.check()
    assert 10**12 in set(index.ids().tolist())
    assert reader.check() and 10**12 not in set(index.ids().tolist())  # no writer here
