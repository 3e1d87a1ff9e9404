"""The ``assistant`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant import __version__
from assistant.cli.access import collections as collections_commands
from assistant.cli.access import principal_for
from assistant.cli.access import users as users_commands
from assistant.cli.audit import audit as audit_commands
from assistant.cli.backup import backup_command, restore_command
from assistant.cli.errors import cli_errors
from assistant.cli.eval import eval_command
from assistant.cli.feedback import feedback as feedback_commands
from assistant.cli.inbox import run_forget, run_ingest, show_status
from assistant.cli.inbox import watch as watch_command
from assistant.cli.models import models as models_commands
from assistant.cli.tune import reembed_command, tune_command
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

    from assistant.observability.logging import configure_logging, get_logger
    from assistant.server.app import create_app

    settings = _settings(ctx)
    host = host or settings.host
    port = port or settings.port
    settings.ensure_dirs()
    # JSON lines on stderr, personal data masked (assistant/observability/logging.py)
    configure_logging(settings.log_level, pii_patterns=settings.pii_patterns)
    app = create_app(settings)
    # stderr stays pure JSON lines for log shippers: the banner is a log line too
    get_logger("assistant.cli").info(f"chat on http://{host}:{port} (API docs: /schema)")
    # log_config=None: uvicorn's loggers propagate to the JSON handler; its access log is
    # replaced by ours, which carries the request id, route template and duration
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
    )


# -- ingest ----------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--collection", default="default", show_default=True, help="Collection to file under")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON")
@click.option("--retry", is_flag=True, help="Parse quarantined files again even if unchanged")
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Prepare files on this Ray cluster (e.g. 127.0.0.1:6379; default: ray_address)",
)
@click.pass_context
@cli_errors
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    collection: str,
    as_json: bool,
    retry: bool,
    ray_address: str | None,
) -> None:
    """Parse, chunk, embed and index files or folders (a folder's vanished files are removed).
    With --ray, files are prepared on a Ray cluster and committed here (docs/SCALING.md)."""
    settings = _settings(ctx)
    if ray_address:
        settings = settings.model_copy(update={"ray_address": ray_address})
    resources = Resources(settings)
    try:
        run_ingest(resources, paths, collection, as_json=as_json, retry=retry)
    finally:
        resources.close()


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--keep-file", is_flag=True, help="Leave an inbox file in place (it will return)")
@click.pass_context
@cli_errors
def forget(ctx: click.Context, targets: tuple[str, ...], keep_file: bool) -> None:
    """Erase files, folders or document ids: chunks, vectors, lexical entries, inbox copy.

    Each erased document gets a receipt (document id, hash, time, who) in the journal.
    """
    settings = _settings(ctx)
    resources = Resources(settings)
    try:
        run_forget(resources, settings, targets, keep_file=keep_file)
    finally:
        resources.close()


# -- ask -------------------------------------------------------------------------
@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as POST /api/ask")
@click.option(
    "--as", "as_user", default=None, help="Answer as this user, with their access (default: all)"
)
@click.pass_context
@cli_errors
def ask(ctx: click.Context, question: str, as_json: bool, as_user: str | None) -> None:
    """Ask a question and print the answer with its sources."""
    resources = Resources(_settings(ctx))
    try:
        principal = principal_for(resources, as_user)
        answer = resources.answers.answer(
            question,
            user=principal.user,
            collections=resources.access.visible_collections(principal),
        )
    finally:
        resources.close()  # stops the model's worker process too
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
    """Collections, documents, chunks, index health and quarantined files with reasons."""
    settings = _settings(ctx)
    resources = Resources(settings)
    try:
        show_status(settings, resources)
    finally:
        resources.close()


# -- models ----------------------------------------------------------------------
# -- audit (assistant/cli/audit.py) ----------------------------------------------------
cli.add_command(audit_commands)
cli.add_command(models_commands)
cli.add_command(backup_command)
cli.add_command(restore_command)
cli.add_command(feedback_commands)
cli.add_command(users_commands)
cli.add_command(collections_commands)


# -- watch (assistant/cli/inbox.py) -------------------------------------------------------
cli.add_command(watch_command)

# -- eval (assistant/cli/eval.py) -------------------------------------------------------------
cli.add_command(eval_command)

# -- reembed, tune (assistant/cli/tune.py) ------------------------------------------------------
cli.add_command(reembed_command)
cli.add_command(tune_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
