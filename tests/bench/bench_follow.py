"""Another process's commit, searchable by a running server (issue 16, item 4): ≤ 5 s.

A reader -- the server's Resources, open and answering -- runs while a second Python
process ingests one new document into the same DATA_DIR, as ``assistant ingest`` beside
``assistant serve`` does. Timed: from the writer process's exit (its commit is durable)
until the reader's retrieval returns the new document first, polling every 50 ms
(assistant/store/follow.py looks at the store at most once a second, then fetches only
the new vectors). Each repetition adds one document to a store of a few thousand chunks;
the hash embedder stands in on both sides, so the figure is the following, not embedding.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from assistant.answering.generator import EchoGenerator
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.bench.core import Context, Figure, Section, Target

FULL = (300, 8)  # background documents, repetitions
QUICK = (30, 3)


def _writer(settings: Settings, folder: Path) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from assistant.models.embed import HashEmbedder
        from assistant.resources import Resources
        from assistant.settings import Settings
        s = Settings(data_dir=Path({str(settings.data_dir)!r}),
                     models_dir_override=Path({str(settings.models_dir)!r}))
        res = Resources(s, embedder=HashEmbedder())
        try:
            res.ingestor.ingest([Path({str(folder)!r})], "bench")
        finally:
            res.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=600)


def run(ctx: Context) -> Section:
    section = Section("follow", "A running server sees another process's commit")
    background, reps = QUICK if ctx.quick else FULL
    root = ctx.area_dir("follow")
    settings = Settings(data_dir=root / "data", models_dir_override=ctx.repo / "data" / "models")
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for i in range(background):
        (docs / f"memo-{i:04d}.txt").write_text(
            "\n\n".join(f"Memo {i} paragraph {p}: canteen, parking and badge rules {i * p}."
                        for p in range(10)),
            encoding="utf-8",
        )  # fmt: skip
    reader = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    waits: list[float] = []
    try:
        reader.ingestor.ingest([docs], "bench")
        reader.ingestor.close()  # the server's own ingest is done; it only reads now
        chunks = reader.store.counts()["chunks"]
        for r in range(reps):
            word = f"zebrafinch{r}quokka"
            new = root / f"new-{r}"
            new.mkdir()
            (new / f"{word}.txt").write_text(f"The {word} procedure applies from Monday.\n")
            reader.retriever.retrieve(f"What is the {word} procedure?")  # before: not found
            _writer(settings, new)
            committed = time.perf_counter()
            while True:
                hits = reader.retriever.retrieve(f"What is the {word} procedure?")
                if hits and word in hits[0].chunk.text:
                    break
                if time.perf_counter() - committed > 60:
                    raise RuntimeError("the new document was never found")
                time.sleep(0.05)
            waits.append(time.perf_counter() - committed)
            ctx.log(f"follow: repetition {r + 1}/{reps}: {waits[-1]:.2f} s")
    finally:
        reader.close()
    section.add(
        Figure(
            "another process's commit until the running server finds it",
            "s",
            waits,
            targets=[Target(5.0, op="<=", text="≤ 5 s")],
            note=f"{reps} repetitions, one new document each into {chunks:,} chunks; "
            "the reader polls every 50 ms, the follower looks at most once a second",
        )
    )
    return section
