"""Erasure in two halves: committed and unreachable at once, off the disk just after.

``Ingestor.erase`` commits the deletion and queues the chunks' FTS5 rows; from
then on nothing finds the document. ``Ingestor.tick`` (also run by ``close``)
saves the index, deletes and merges out the FTS5 rows and checkpoints the WAL.
Real SQLite/FTS5 and FAISS under tmp_path, HashEmbedder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from assistant.answering.generator import EchoGenerator
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.retrieval import lexical
from assistant.settings import Settings
from assistant.store import fts_purge
from assistant.store.schema import FTS_HASHSIZE
from tests.conftest import REPO

SECRET = "Quentin Zabriskie of payroll was granted unpaid leave for the Vexhollow inquiry."
#: A made-up word only SECRET's document holds, looked for in the raw files.
RARE = b"vexhollow"


def _fts_rows(resources: Resources) -> list[tuple[int, str]]:
    with resources.store.connection() as db:
        return [(int(r), str(c)) for r, c in db.execute("SELECT rowid, chunk_id FROM chunks_fts")]


def _chunk_rows(resources: Resources) -> list[tuple[int, str]]:
    with resources.store.connection() as db:
        return [(int(v), str(i)) for v, i in db.execute("SELECT vid, id FROM chunks")]


def _write(folder: Path, name: str, paragraphs: int, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = [
        f"Paragraph {i} of {name} sets the parking rules for site {i}." for i in range(paragraphs)
    ]
    path = folder / name
    path.write_text("\n\n".join([*body, extra]), encoding="utf-8")
    return path


def _on_disk(index_dir: Path, needle: bytes) -> list[str]:
    """Files of the index folder (store, WAL, FAISS) whose bytes hold ``needle``."""
    return sorted(p.name for p in index_dir.iterdir() if p.is_file() and needle in p.read_bytes())


def test_each_chunk_has_one_fts_row_keyed_by_its_vector_id(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    for i in range(3):
        _write(docs, f"doc{i}.txt", 40)
    resources.ingestor.ingest([docs], "c")

    assert sorted(_fts_rows(resources)) == sorted(_chunk_rows(resources))
    with resources.store.connection() as db:
        row = db.execute("SELECT v FROM chunks_fts_config WHERE k = 'hashsize'").fetchone()
    assert row == (FTS_HASHSIZE,)


def test_erased_rows_are_unreachable_at_once_and_purged_by_tick(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    keep = _write(docs, "keep.txt", 30)
    gone = _write(docs, "gone.txt", 30, extra=SECRET)
    resources.ingestor.ingest([docs], "c")
    assert lexical.search(resources.store, "Zabriskie Vexhollow", 5)

    done = resources.ingestor.erase([str(gone.resolve())])

    assert len(done.receipts) == 1 and done.receipts[0].chunks > 1
    assert set(done.timings) == {"store_s", "faiss_remove_s", "listeners_s"}
    assert lexical.search(resources.store, "Zabriskie Vexhollow", 5) == []
    assert all(SECRET not in h.chunk.text for h in resources.retriever.retrieve(SECRET))
    assert resources.index.ntotal == resources.store.counts()["chunks"]
    assert fts_purge.pending(resources.store)

    resources.ingestor.tick()

    assert not fts_purge.pending(resources.store)
    assert sorted(_fts_rows(resources)) == sorted(_chunk_rows(resources))
    assert resources.store.path_entry(str(keep.resolve())) is not None
    assert lexical.search(resources.store, "parking rules", 5)


def test_the_erased_words_leave_the_files(resources: Resources, tmp_path: Path) -> None:
    """FTS5 keeps a deleted row's terms in older segments until a merge: the purge merges."""
    docs = tmp_path / "docs"
    _write(docs, "keep.txt", 30)
    gone = _write(docs, "gone.txt", 10, extra=SECRET)
    resources.ingestor.ingest([docs], "c")
    index_dir = resources.settings.index_dir
    resources.store.checkpoint()
    assert "chunks.sqlite" in _on_disk(index_dir, RARE)  # the control: it is there to find

    resources.ingestor.erase([str(gone.resolve())])
    resources.ingestor.tick()

    assert _on_disk(index_dir, RARE) == []


def test_a_document_ingested_again_before_the_purge(resources: Resources, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    gone = _write(docs, "gone.txt", 20, extra=SECRET)
    resources.ingestor.ingest([docs], "c")
    resources.ingestor.erase([str(gone.resolve())])

    report = resources.ingestor.ingest_files([(gone.resolve(), "c")])  # same bytes, same ids

    assert report.added == [str(gone.resolve())]
    assert not fts_purge.pending(resources.store)
    assert sorted(_fts_rows(resources)) == sorted(_chunk_rows(resources))
    assert lexical.search(resources.store, "Zabriskie Vexhollow", 5)


CRASH = """
import os, sys
from pathlib import Path
from assistant.answering.generator import EchoGenerator
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.models.embed import HashEmbedder

settings = Settings(data_dir=Path(sys.argv[1]), models_dir_override=Path(sys.argv[1]))
resources = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
resources.ingestor.erase([sys.argv[2]])
os._exit(0)  # a crash: no tick, no close, no index save
"""


def test_a_crash_after_erasure_brings_nothing_back(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", models_dir_override=tmp_path)
    docs = tmp_path / "docs"
    _write(docs, "keep.txt", 20)
    gone = _write(docs, "gone.txt", 20, extra=SECRET).resolve()
    first = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    first.ingestor.ingest([docs], "c")
    first.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-c", CRASH, str(tmp_path / "data"), str(gone)]
    subprocess.run(run, env=env, check=True, timeout=300)

    again = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        again.ingestor  # opening: the index is rebuilt, the queued FTS5 rows purged  # noqa: B018
        assert not fts_purge.pending(again.store)
        assert sorted(_fts_rows(again)) == sorted(_chunk_rows(again))
        assert again.index.ntotal == again.store.counts()["chunks"] > 0
        assert again.store.path_entry(str(gone)) is None
        assert lexical.search(again.store, "Zabriskie Vexhollow", 5) == []
        assert all(SECRET not in h.chunk.text for h in again.retriever.retrieve(SECRET))
    finally:
        again.close()


def test_rows_rewritten_for_a_new_analyser_are_still_erased(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    gone = _write(docs, "gone.txt", 5, extra=SECRET)
    _write(docs, "keep.txt", 5)
    resources.ingestor.ingest([docs], "c")
    with resources.store.transaction() as db:  # as a store written by an older analyser
        db.execute("UPDATE chunks_fts SET text = 'raw unanalysed text'")
    lexical._checked.discard(str(resources.store.path))
    assert lexical.ensure_lexical_index(resources.store) is True
    assert sorted(_fts_rows(resources)) == sorted(_chunk_rows(resources))

    resources.ingestor.erase([str(gone.resolve())])
    resources.ingestor.tick()

    assert sorted(_fts_rows(resources)) == sorted(_chunk_rows(resources))
