"""``assistant eval DATASET.jsonl``: measure retrieval and answers against the current index."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    TaskID,
)

from assistant.cli.errors import cli_errors
from assistant.cli.progress import console, steps_progress
from assistant.settings import Settings


@click.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.option("--retrieval-only", is_flag=True, help="Skip answering: retrieval metrics only")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path, exists=True),
    help="Ingest this folder first (unchanged files are skipped)",
)
@click.option(
    "--answers",
    "answer_sample",
    type=int,
    default=None,
    help="Answer only this many questions, evenly spread (retrieval still uses all)",
)
@click.option("--model", default=None, help="Catalogue name of the GGUF model to answer with")
@click.option(
    "--draft-model",
    default=None,
    help="A smaller model that answers first, MODEL taking over when it refuses or is "
    "withheld ('none': MODEL alone)",
)
@click.option("--context-tokens", type=int, default=None, help="Context budget (0: whole chunks)")
@click.option("--max-tokens", type=int, default=None, help="Answer length cap")
@click.option("--samples", is_flag=True, help="Include each question's answer in the JSON")
@click.pass_context
@cli_errors
def eval_command(
    ctx: click.Context,
    dataset: Path,
    as_json: bool,
    retrieval_only: bool,
    corpus: Path | None,
    answer_sample: int | None,
    model: str | None,
    draft_model: str | None,
    context_tokens: int | None,
    max_tokens: int | None,
    samples: bool,
) -> None:
    """Recall@1/5/10, MRR and nDCG@10 for hybrid, BM25 and dense retrieval; answer accuracy,
    citation precision, refusals, time to first token and tokens/s.

    DATASET holds JSON lines {"question", "answers": [...], "gold": [...]}; gold names
    documents (path, file name or stem) and is empty for a question nothing answers.
    """
    from assistant.eval.dataset import load_dataset
    from assistant.eval.report import tables, to_dict
    from assistant.eval.runner import run_eval
    from assistant.resources import Resources

    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    overrides: dict[str, object] = {
        k: v
        for k, v in (
            ("model", model),
            ("draft_model", draft_model),
            ("context_tokens", context_tokens),
            ("max_tokens", max_tokens),
        )
        if v is not None
    }
    if draft_model is not None and draft_model.lower() in ("", "none"):
        overrides["draft_model"] = None  # MODEL alone, whatever the settings say
    if overrides:
        settings = settings.model_copy(update=overrides)
    items = load_dataset(dataset)
    resources = Resources(settings)
    try:
        if corpus is not None:
            report_ingest = resources.ingestor.ingest([corpus], "eval")
            console.print(f"corpus: {report_ingest.summary()}")
        with steps_progress(transient=as_json) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done)

            report = run_eval(
                resources,
                items,
                dataset=dataset.name,
                answer_sample=answer_sample,
                retrieval_only=retrieval_only,
                progress=progress,
                keep_samples=samples,
            )
    finally:
        resources.close()
    if as_json:
        click.echo(json.dumps(to_dict(report), ensure_ascii=False, indent=2))
        return
    out = Console()
    for table in tables(report):
        out.print(table)
    if report.unresolved_gold:
        console.print(
            f"[yellow]{report.unresolved_gold} answerable question(s) name gold documents "
            "that are not in the index[/yellow]"
        )
