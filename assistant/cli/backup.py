"""``assistant backup DIR`` and ``assistant restore DIR`` (assistant/backup.py)."""

from __future__ import annotations

from pathlib import Path

import click

from assistant.audit.log import AuditLog
from assistant.backup import BackupError, backup, restore
from assistant.cli.errors import cli_errors
from assistant.cli.progress import console
from assistant.settings import Settings

KEY_FILE = click.Option(
    ["--key-file"],
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Encrypt (backup) or decrypt (restore) with the secret in this file",
)


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


@click.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include-key", is_flag=True, help="Also copy the audit log's signing key")
@click.pass_context
@cli_errors
def backup_command(
    ctx: click.Context, folder: Path, include_key: bool, key_file: Path | None
) -> None:
    """Copy the index, accounts, audit log, documents and settings into FOLDER, live."""
    with console.status("backing up") as status:
        report = backup(
            _settings(ctx),
            folder,
            include_key=include_key,
            key_file=key_file,
            progress=lambda name: status.update(f"backing up {name}"),
        )
    how = "encrypted" if report.encrypted else "not encrypted"
    key = "with" if report.includes_key else "without"
    console.print(
        f"backed up {report.files} files ({report.bytes / 1e6:.1f} MB) to {folder} in "
        f"{report.seconds:.1f} s, {how}, {key} the signing key"
    )


@click.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore over an existing index")
@click.pass_context
@cli_errors
def restore_command(ctx: click.Context, folder: Path, force: bool, key_file: Path | None) -> None:
    """Restore a backup made by `assistant backup` into DATA_DIR, then verify the audit log."""
    settings = _settings(ctx)
    with console.status("restoring") as status:
        count = restore(
            settings,
            folder,
            key_file=key_file,
            force=force,
            progress=lambda name: status.update(f"restoring {name}"),
        )
    log = AuditLog.from_settings(settings)
    try:
        verdict = log.verify()
    finally:
        log.close()
    if not verdict.ok:
        raise BackupError(f"restored {count} files, but the audit log fails verification")
    console.print(f"restored {count} files into {settings.data_dir}; the audit log verifies")


backup_command.params.append(KEY_FILE)
restore_command.params.append(KEY_FILE)
