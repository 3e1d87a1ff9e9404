"""Crash safety: SIGKILL the ingest process at random moments, restart, compare with a clean run.

The ingest runs in a real subprocess (an inbox scan with the hash embedder),
killed with SIGKILL at a random moment, restarted, killed again ... then
allowed to finish. Its index must equal that of an uninterrupted ingest of the
same folder: the same documents, the same chunk ids, no duplicates, and a
FAISS index holding exactly one vector per chunk.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import pytest

from assistant.settings import Settings
from assistant.store import recovery
from assistant.store.documents import Store
from assistant.store.index import VectorIndex
from tests.conftest import MODELS, REPO
from tests.ingest_corpus import docx

CHILD = """
import sys
from pathlib import Path
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.models.embed import HashEmbedder
from ingest.watch import InboxWatcher

data, models = Path(sys.argv[1]), Path(sys.argv[2])
settings = Settings(data_dir=data, models_dir_override=models, chunk_size=300)
resources = Resources(settings, embedder=HashEmbedder())
watcher = InboxWatcher(resources.ingestor, settings.inbox_dir)  # opens the store, checks the index
print("READY", flush=True)
watcher.scan()
resources.close()
print("DONE", flush=True)
"""

WORDS = (
    "leave payroll badge canteen parking invoice travel laptop password backup contract "
    "holiday training safety visitor archive printer budget audit meeting"
).split()


def _corpus(inbox: Path, n: int, seed: int) -> None:
    """``n`` files over three collections: Markdown, text and a few DOCX, several chunks each."""
    rng = random.Random(seed)
    for i in range(n):
        collection = ("hr", "it", "finance")[i % 3]
        folder = inbox / collection / f"batch{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        paragraphs = [
            " ".join(rng.choice(WORDS) for _ in range(60)) + f" Document {i} paragraph {p}."
            for p in range(rng.randint(2, 6))
        ]
        if i % 10 == 9:
            docx(folder / f"doc{i}.docx", f"Memo {i}", paragraphs)
        elif i % 2:
            (folder / f"doc{i}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(paragraphs))
        else:
            (folder / f"doc{i}.txt").write_text("\n\n".join(paragraphs))
    (inbox / "hr" / "copy-of-doc0.txt").write_bytes(
        (inbox / "hr" / "batch0" / "doc0.txt").read_bytes()
    )


def _start(data: Path, script: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(data), str(MODELS)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _state(data: Path) -> tuple[list[str], list[str], list[tuple[str, str]], int, list[int]]:
    settings = Settings(data_dir=data, models_dir_override=MODELS)
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        docs = sorted(d.id for d in store.documents())
        chunk_ids = store.chunk_ids()
        paths = sorted((e.path.replace(str(data), ""), e.doc_id) for e in store.path_entries())
        index = VectorIndex.open(settings.index_dir / "vectors.faiss", 384, store)
        recovery.ensure_consistent(index, store)
        raw = faiss.read_index(str(index.path))
        ids = sorted(int(i) for i in faiss.vector_to_array(raw.id_map))
        vids, _ = store.all_vectors(384)
        assert ids == sorted(int(v) for v in vids), "FAISS ids differ from the stored chunks"
        assert len(set(ids)) == len(ids) == len(chunk_ids), "duplicate or missing vectors"
        return docs, chunk_ids, paths, index.ntotal, ids
    finally:
        store.close()


def _mutate(inbox: Path, rng: random.Random, round_: int) -> None:
    """Give the next run work: new files, a changed file, a removed file."""
    files = sorted(p for p in inbox.rglob("*") if p.is_file())
    for j in range(3):
        (inbox / "it" / f"new-{round_}-{j}.md").write_text(
            f"# New {round_}.{j}\n\n" + " ".join(rng.choice(WORDS) for _ in range(150))
        )
    changed = rng.choice([f for f in files if f.suffix in (".md", ".txt")])
    changed.write_text(changed.read_text() + f"\n\nAmended in round {round_}.")
    rng.choice(files).unlink()


def _kill_and_restart(tmp_path: Path, files: int, kills: int, seed: int) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    _corpus(crashed / "inbox", files, seed)
    rng = random.Random(seed)
    done_kills = 0
    for round_ in range(kills * 3):
        if done_kills >= kills:
            break
        if round_ and rng.random() < 0.5:
            _mutate(crashed / "inbox", rng, round_)
        proc = _start(crashed, script)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"READY"
        time.sleep(rng.uniform(0.0, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            done_kills += 1
        proc.wait()
    assert done_kills >= kills
    proc = _start(crashed, script)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0 and b"DONE" in out
    shutil.copytree(crashed / "inbox", clean / "inbox")
    reference = _start(clean, script)
    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0 and b"DONE" in out

    got, want = _state(crashed), _state(clean)
    assert got[0] == want[0], "documents differ"
    assert got[1] == want[1], "chunk ids differ"
    assert got[2] == want[2], "paths differ"
    assert got[3] == want[3] == len(want[1])
    assert got[4] == want[4]


def test_sigkill_during_ingest_five_times_leaves_the_same_index(tmp_path: Path) -> None:
    _kill_and_restart(tmp_path, files=50, kills=5, seed=7)


@pytest.mark.slow
def test_sigkill_during_ingest_twenty_times_leaves_the_same_index(tmp_path: Path) -> None:
    _kill_and_restart(tmp_path, files=80, kills=20, seed=11)
