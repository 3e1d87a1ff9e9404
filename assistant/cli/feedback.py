"""``assistant feedback``: what users said about their answers, as an eval set.

``export OUT`` writes one ``assistant eval`` line per rated answer (each user's latest
rating of it; ``assistant/audit/feedback.py`` says what a line holds), so the answers users
marked right become regression questions and those marked wrong become questions for a
reviewer to complete. Reading the log's texts is itself recorded (``audit_export``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.audit.feedback import FeedbackBook, rows
from assistant.audit.kinds import EventKind
from assistant.cli.access import CONSOLE_ACTOR
from assistant.cli.errors import cli_errors
from assistant.cli.progress import console
from assistant.resources import Resources
from assistant.settings import Settings


@click.group("feedback")
def feedback() -> None:
    """Users' thumbs up and down on their answers."""


@feedback.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rating",
    type=click.Choice(["up", "down", "all"]),
    default="all",
    show_default=True,
    help="Only answers marked right (up) or wrong (down)",
)
@click.pass_context
@cli_errors
def export(ctx: click.Context, out: Path, rating: str) -> None:
    """Write the rated answers to OUT as an eval set (JSON lines)."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    resources = Resources(settings)
    try:
        book = FeedbackBook(resources.audit)
        latest = book.latest(rating=None if rating == "all" else rating)
        lines = list(rows(latest, mask=resources.pii_mask))  # masked where collections say
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        resources.audit.record(
            EventKind.AUDIT_EXPORT,
            CONSOLE_ACTOR,
            {"what": "feedback", "format": "eval-jsonl", "rating": rating, "lines": len(lines)},
        )
        right = sum(1 for line in lines if line["kind"] == "marked-up")
        console.print(
            f"wrote {len(lines)} questions to {out}: {right} marked right, "
            f"{len(lines) - right} marked wrong (complete their gold before evaluating)"
        )
    finally:
        resources.close()
