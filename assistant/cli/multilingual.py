"""The multilingual index from the command line: fill the vectors it lacks, or embed it
again with another multilingual embedder (``assistant reembed [--multilingual]``)."""

from __future__ import annotations

import time

from assistant.audit.embedders import record_reembedded
from assistant.cli.access import CONSOLE_ACTOR
from assistant.cli.progress import console, steps_progress
from assistant.errors import ConfigError
from assistant.models.sources import recorded_hashes
from assistant.resources import Resources
from ingest.commit import Committer
from ingest.multilingual import fill_multilingual, forget_multilingual


def fill_multilingual_with_progress(resources: Resources) -> int:
    """Give every chunk stored without one its multilingual vector (an index from before
    the multilingual index, or chunks ingested while it was off); returns how many."""
    second, embedder = resources.multilingual_index, resources.multilingual_embedder
    missing = resources.store.multilingual_missing()
    if second is None or embedder is None or not missing:
        return 0
    console.print(f"embedding {missing} chunks with {embedder.name} for the multilingual index")
    committer = Committer(
        resources.store,
        resources.index,
        second,
        embedder=resources.embedder.name,
        multilingual_embedder=embedder.name,
    )
    try:
        with steps_progress() as bar:
            task = bar.add_task("multilingual", total=missing)
            done = fill_multilingual(
                resources.store,
                committer,
                embedder,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
    finally:
        committer.close()
    console.print(f"{done} multilingual vectors filled: the next start uses that index")
    return done


def rebuild_multilingual(resources: Resources, *, force: bool = False) -> int | None:
    """Embed every chunk again into a new multilingual index with ``resources``' multilingual
    embedder (another model: its vectors and width replace the old ones); how many chunks.
    When the index already is that embedder's (unless ``force``), only the chunks without a
    vector are embedded; None when there are none."""
    settings = resources.settings
    embedder = resources.multilingual_embedder
    if embedder is None:
        name = settings.multilingual_embedding_model
        raise ConfigError(
            f"no multilingual index to re-embed: multilingual_embedding_model is {name or 'none'}"
            + (", which is not installed" if name else ""),
            hint=f"run `assistant models install {name}`" if name else "set it to a model",
        )
    store = resources.store
    old = store.multilingual_embedder_name()
    if old == embedder.name and not force:  # the vectors there are this embedder's: kept
        if not store.multilingual_missing():
            console.print(f"the multilingual index is already {embedder.name}'s: nothing to do")
            return None
        return fill_multilingual_with_progress(resources)  # only the chunks without one
    dropped = forget_multilingual(store, settings.index_dir)
    console.print(f"dropped {dropped} multilingual vectors of {old}")
    started = time.perf_counter()
    chunks = fill_multilingual_with_progress(resources)
    record_reembedded(
        resources.audit,
        actor=CONSOLE_ACTOR,
        old_embedder=old,
        old_hashes=recorded_hashes(old, settings.models_dir),
        new_embedder=embedder.name,
        new_hashes=recorded_hashes(embedder.name, settings.models_dir),
        chunks=chunks,
        index_kind="multilingual",
        generation=store.generation(),
        seconds=round(time.perf_counter() - started, 3),
    )
    console.print("restart a running server: until then it answers from the index it loaded")
    return chunks
