"""``assistant reembed`` and ``assistant tune``: change what embeds the index.

``reembed`` re-embeds every chunk with the configured embedder (or ``--embedder``) beside
the live index and swaps (``ingest/reembed.py``); ``tune`` adapts the embedding model to
the corpus (``ingest/tuning/``), records its lineage, and re-embeds with it. Both record
what they did in the audit log (``assistant/audit/embedders.py``) and say which settings
to change: the index is bound to its embedder, so the server refuses it until they match.
"""

from __future__ import annotations

import click
from rich.progress import TaskID

from assistant.audit.embedders import record_embedder_tuned, record_reembedded
from assistant.cli.access import CONSOLE_ACTOR
from assistant.cli.errors import cli_errors
from assistant.cli.multilingual import fill_multilingual_with_progress, rebuild_multilingual
from assistant.cli.progress import console, steps_progress
from assistant.errors import ConfigError
from assistant.models.embed import Embedder, make_embedder
from assistant.models.sources import embedding_source, recorded_hashes, split_embedder
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.reembed import ReembedReport, reembed
from ingest.tuning.tune import TuneOptions, tune_embedder

BACKENDS = ("torch", "onnx-int8")


def _root_settings(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def with_embedder(settings: Settings, embedder: str | None) -> Settings:
    """``settings`` with ``embedding_model`` (and backend) from ``MODEL[@BACKEND]``."""
    if not embedder:
        return settings
    model, backend = split_embedder(embedder)
    if not model or (backend and backend not in BACKENDS):
        raise ConfigError(f"--embedder {embedder!r}: use MODEL or MODEL@{'|'.join(BACKENDS)}")
    update: dict[str, object] = {"embedding_model": model}
    if backend:
        update["embedding_backend"] = backend
    return settings.model_copy(update=update)


def reembed_with_progress(
    resources: Resources, embedder: Embedder, *, force: bool = False
) -> ReembedReport | None:
    """Re-embed ``resources``' index with ``embedder`` under a progress bar and record it;
    None when the index already is ``embedder``'s (unless ``force``)."""
    s = resources.settings
    if resources.store.embedder_name() == embedder.name and not force:
        console.print(f"the index is already embedded by {embedder.name}: nothing to do")
        return None
    console.print(f"re-embedding every chunk with {embedder.name}")
    with steps_progress() as bar:
        task = bar.add_task("re-embed", total=None)
        report = reembed(
            resources.store,
            s.index_dir / "vectors.faiss",
            embedder,
            exact_max=s.index_exact_max,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    record_reembedded(
        resources.audit,
        actor=CONSOLE_ACTOR,
        old_embedder=report.old_embedder,
        old_hashes=recorded_hashes(report.old_embedder, s.models_dir),
        new_embedder=report.new_embedder,
        new_hashes=recorded_hashes(report.new_embedder, s.models_dir),
        chunks=report.chunks,
        index_kind=report.index_kind,
        generation=report.generation,
        seconds=report.seconds,
    )
    console.print(
        f"re-embedded {report.chunks} chunks: {report.old_embedder} -> {report.new_embedder} "
        f"({report.index_kind} index, {report.seconds}s)"
    )
    return report


def tell_settings(configured: Settings, embedder: str) -> None:
    """Print the settings that make queries use ``embedder`` (``model@backend``)."""
    model, backend = split_embedder(embedder)
    lines = []
    if model != configured.embedding_model:
        lines.append(f"ASSISTANT_EMBEDDING_MODEL={model}")
    if backend and backend != configured.embedding_backend:
        lines.append(f"ASSISTANT_EMBEDDING_BACKEND={backend}")
    if lines:
        console.print("set (environment, or embedding_model / embedding_backend in TOML):")
        for line in lines:
            click.echo(line)
    console.print("then restart a running server: until then it answers from the index it loaded")


@click.command("reembed")
@click.option(
    "--embedder",
    default=None,
    metavar="MODEL[@BACKEND]",
    help="Embed with this model (catalogue or tuned) and backend instead of the settings'",
)
@click.option("--force", is_flag=True, help="Re-embed even if the index already is this one's")
@click.option(
    "--multilingual",
    is_flag=True,
    help="Re-embed the multilingual index alone, with MULTILINGUAL_EMBEDDING_MODEL (after "
    "changing it, e.g. to embeddinggemma-300m)",
)
@click.pass_context
@cli_errors
def reembed_command(
    ctx: click.Context, embedder: str | None, force: bool, multilingual: bool
) -> None:
    """Re-embed every chunk into a new index, then swap it for the live one.

    Uses the configured embedding model and backend (or --embedder). The old index
    stays as it was until the new one is complete; the swap is recorded in the audit
    log. Refused while another process (the server's inbox watcher) writes the index.
    Then the chunks without a multilingual vector (an index from before the multilingual
    one) get theirs, in batches an interruption does not lose.
    """
    configured = _root_settings(ctx)
    if multilingual:
        if embedder:
            raise ConfigError("--multilingual re-embeds with MULTILINGUAL_EMBEDDING_MODEL alone")
        resources = Resources(configured)
        try:
            rebuild_multilingual(resources, force=force)
        finally:
            resources.close()
        return
    settings = with_embedder(configured, embedder)
    resources = Resources(settings)
    try:
        report = reembed_with_progress(resources, resources.embedder, force=force)
        fill_multilingual_with_progress(resources)
    finally:
        resources.close()
    if report is not None:
        tell_settings(configured, report.new_embedder)


@click.command("tune")
@click.option("--sample", default=200, show_default=True, type=click.IntRange(2), help="Chunks")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample and the training")
@click.option("--collection", default=None, help="Sample this collection only (default: all)")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, 10))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(2, 256))
@click.option("--learning-rate", default=2e-5, show_default=True, type=click.FloatRange(0, 1))
@click.option("--model", default=None, help="Chat model that writes the questions (default MODEL)")
@click.option("--no-reembed", is_flag=True, help="Make the model only; `reembed` later")
@click.pass_context
@cli_errors
def tune_command(
    ctx: click.Context,
    sample: int,
    seed: int,
    collection: str | None,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    model: str | None,
    no_reembed: bool,
) -> None:
    """Adapt the embedding model to the corpus, then re-embed the index with it.

    The chat model writes one question for each of a seeded sample of chunks; the
    embedding model (EMBEDDING_MODEL, its verified weights) is fine-tuned on the
    (question, passage) pairs with in-batch negatives, on the CPU. The result is saved
    in the models dir under a name pinning its manifest (SHA-256 of every file), the
    lineage goes to the audit log, and the index is re-embedded unless --no-reembed.
    Measure the lift with `assistant eval` on questions people wrote, never on the
    generated ones (saved beside the model).
    """
    configured = _root_settings(ctx)
    settings = configured.model_copy(update={"model": model}) if model else configured
    resources = Resources(settings)
    try:
        base = embedding_source(settings.embedding_model, settings.models_dir)
        generator = resources.generator
        with steps_progress() as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            report = tune_embedder(
                resources.store,
                generator,
                base,
                settings.models_dir,
                TuneOptions(sample, seed, collection, epochs, batch_size, learning_rate),
                progress=progress,
                questions_done=getattr(generator, "close", None),  # free its memory
            )
        tuned = report.model
        record_embedder_tuned(
            resources.audit,
            actor=CONSOLE_ACTOR,
            model=tuned.name,
            manifest_sha256=tuned.manifest_sha256,
            weights_sha256=tuned.weights_sha256,
            files=tuned.files,
            lineage=report.lineage,
        )
        skipped = ", ".join(f"{n} {why}" for why, n in report.generated.skipped.items())
        console.print(
            f"tuned {base.name} into [bold]{tuned.name}[/bold] on {len(report.generated.pairs)} "
            f"generated questions ({skipped or 'none skipped'}); loss per epoch "
            f"{report.training.epoch_loss}; {tuned.path} (manifest {tuned.manifest_sha256})"
        )
        if not no_reembed:
            embedder = make_embedder(
                tuned.name,
                settings.models_dir,
                backend=settings.embedding_backend,
                batch_size=settings.embed_batch_size,
                threads=settings.embed_threads,
            )
            reembed_with_progress(resources, embedder)
    finally:
        resources.close()
    if no_reembed:
        console.print(f"run `assistant reembed --embedder {tuned.name}` to use it")
    else:
        tell_settings(configured, f"{tuned.name}@{settings.embedding_backend}")
