"""``assistant audit …``: verify, export, sign, erase and purge the audit log.

Registered on the main group in ``assistant/cli/main.py``. The actor of what
these commands record is the operating-system account that ran them.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TextIO

import click

from assistant.answering.history import ChatHistory
from assistant.audit import keys
from assistant.audit.export import ExportFilter, Format, parse_when
from assistant.audit.log import AuditLog
from assistant.audit.masking import masker
from assistant.audit.records import KINDS
from assistant.audit.verify import format_report, report_json
from assistant.auth.store import AuthStore
from assistant.cli.errors import cli_errors
from assistant.errors import AuditTampered
from assistant.settings import Settings
from assistant.text.pii import Redactor


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextmanager
def _open(ctx: click.Context, *, seal: bool = True) -> Iterator[AuditLog]:
    settings = _settings(ctx)
    settings.ensure_dirs()
    log = AuditLog.from_settings(settings, seal_on_close=seal)
    try:
        yield log
    finally:
        log.close()


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit log: verify, export, keygen, checkpoint, erase-subject, purge."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.pass_context
@cli_errors
def verify(ctx: click.Context, as_json: bool) -> None:
    """Recompute hashes, links, seq, timestamps, Merkle roots and signatures. Exit 1 on tamper."""
    with _open(ctx, seal=False) as log:
        report = log.verify()
    click.echo(report_json(report) if as_json else format_report(report))
    if not report.ok:
        first = report.problems[0]
        raise AuditTampered(
            f"the audit log failed verification: {len(report.problems)} problem(s), first: {first}"
        )


@audit.command("export")
@click.option("--from", "start", default=None, help="From this date or ISO time (UTC)")
@click.option("--to", "end", default=None, help="Up to this date (whole day) or ISO time")
@click.option("--user", default=None, help="Only this actor")
@click.option(
    "--event", "events", multiple=True, type=click.Choice(sorted(KINDS)), help="Repeatable"
)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="File (default stdout)")
@click.option("--no-personal", is_flag=True, help="Leave out question/answer texts")
@click.pass_context
@cli_errors
def export(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    user: str | None,
    events: tuple[str, ...],
    fmt: str,
    output: Path | None,
    no_personal: bool,
) -> None:
    """Export matching events as CSV or JSONL. The export is itself recorded."""
    flt = ExportFilter(
        start=parse_when(start) if start else None,
        end=parse_when(end, end=True) if end else None,
        actor=user,
        kinds=events,
    )
    out_fmt: Format = "csv" if fmt == "csv" else "jsonl"
    target: AbstractContextManager[TextIO] = (
        nullcontext(sys.stdout) if output is None else _private_file(output)
    )
    settings = _settings(ctx)
    accounts = AuthStore(settings.data_dir / "auth.sqlite")
    mask = masker(accounts.redacting, Redactor(extra=settings.pii_patterns))  # per collection
    with _open(ctx) as log, target as fh:
        summary = log.export(
            fh, out_fmt, flt, actor=cli_actor(), personal=not no_personal, mask=mask
        )
    click.echo(
        f"exported {summary.count} record(s), sha256 {summary.sha256} "
        f"(recorded as seq {summary.record.seq})",
        err=True,
    )


@contextmanager
def _private_file(path: Path) -> Iterator[TextIO]:
    """Exports hold personal texts: the file is readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        yield fh


@audit.command("keygen")
@click.option("--force", is_flag=True, help="Replace an existing key pair")
@click.pass_context
@cli_errors
def keygen(ctx: click.Context, force: bool) -> None:
    """Create the Ed25519 checkpoint key pair (private key 0600)."""
    settings = _settings(ctx)
    kid = keys.generate(settings.audit_key_file, settings.audit_public_key_file, force=force)
    click.echo(f"audit key {kid}")
    click.echo(f"  private {settings.audit_key_file} (0600: only the signer should read it)")
    click.echo(f"  public  {settings.audit_public_key_file}")


@audit.command("checkpoint")
@click.pass_context
@cli_errors
def checkpoint(ctx: click.Context) -> None:
    """Sign a checkpoint now (run by the key's owner, e.g. from a timer)."""
    with _open(ctx, seal=False) as log:
        cp = log.checkpoint()
    if cp is None:
        click.echo("nothing new to sign")
    else:
        click.echo(f"signed tree size {cp.tree_size}, root {cp.root}, key {cp.key_id}")


@audit.command("erase-subject")
@click.argument("subject")
@click.option(
    "--containing", is_flag=True, help="Erase every text that mentions SUBJECT, not only theirs"
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@click.pass_context
@cli_errors
def erase_subject(ctx: click.Context, subject: str, containing: bool, yes: bool) -> None:
    """Erase a data subject's question and answer texts and saved conversations; the chain
    stays verifiable."""
    what = f"every audit text mentioning {subject!r}" if containing else f"{subject}'s texts"
    if not yes:
        click.confirm(f"Erase {what} for good?", abort=True)
    with _open(ctx) as log:
        n = log.erase_subject(subject, actor=cli_actor(), containing=containing)
    settings = _settings(ctx)
    history = ChatHistory(
        settings.data_dir / "history.sqlite", retention_days=settings.history_retention_days
    )
    try:
        chats = history.erase_user(subject)  # their saved conversations (answering/history.py)
    finally:
        history.close()
    click.echo(f"erased {n} payload(s) and {chats} saved conversation(s); the erasure is recorded")


@audit.command("purge")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@click.pass_context
@cli_errors
def purge(ctx: click.Context, yes: bool) -> None:
    """Apply retention: erase expired texts, drop an expired checkpointed prefix."""
    if not yes:
        click.confirm("Apply the audit retention policy now?", abort=True)
    with _open(ctx) as log:
        report = log.purge(actor=cli_actor())
    click.echo(json.dumps(report.to_dict()))
