"""The ingest side of the CLI: ``ingest`` progress and summary, ``forget``, ``status``, ``watch``.

Kept apart from cli/main.py so the ingest commands' output can grow without
crowding the command group; main.py's commands call these helpers.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from pathlib import Path

import click
from rich.table import Table

from assistant.cli.errors import cli_errors
from assistant.cli.progress import console, files_progress
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.pipeline import IngestReport, discover


def run_ingest(
    resources: Resources,
    paths: tuple[Path, ...],
    collection: str,
    *,
    as_json: bool,
    retry: bool = False,
) -> IngestReport:
    """Ingest with a progress bar (files/s, chunks/s, ETA), then print the summary."""
    files = discover(paths)
    folders = [p for p in paths if p.is_dir()]
    started = time.perf_counter()
    with files_progress() as bar:
        task = bar.add_task("ingest", total=len(files), rate=0.0, chunks=0, chunk_rate=0.0)
        chunks = 0

        def progress(path: Path, outcome: str, n: int) -> None:
            nonlocal chunks
            chunks += n
            elapsed = max(time.perf_counter() - started, 1e-9)
            done = bar.tasks[0].completed + 1
            bar.update(
                task,
                advance=1,
                rate=done / elapsed,
                chunks=chunks,
                chunk_rate=chunks / elapsed,
                description=path.name[:30],
            )

        report = resources.ingestor.ingest_files(
            [(f, collection) for f in files],
            progress,
            prune_under=[str(p.resolve()) for p in folders],
            retry_quarantined=retry,
        )
    print_report(report, as_json=as_json)
    nodes = getattr(resources.ingestor.remote, "nodes", None)  # ingest --ray: how it spread
    if nodes and not as_json:
        spread = ", ".join(f"{node[:8]}… {files}" for node, files in nodes.most_common())
        console.print(f"prepared on {len(nodes)} Ray node(s), files per node: {spread}")
    return report


def print_report(report: IngestReport, *, as_json: bool = False) -> None:
    summary = report.summary()
    if as_json:
        click.echo(
            json.dumps(
                {
                    **summary,
                    "removed_paths": report.removed,
                    "quarantine": [asdict(q) for q in report.quarantined],
                },
                ensure_ascii=False,
            )
        )
        return
    console.print(
        "added {added} · changed {changed} · removed {removed} · duplicates {duplicates} · "
        "skipped {skipped} · quarantined {quarantined} · {chunks} chunks in {seconds}s".format(
            **summary
        )
    )
    for path in report.removed:
        console.print(f"[cyan]removed[/cyan] {path}")
    for q in report.quarantined:
        hint = f" ({q.hint})" if q.hint else ""
        console.print(f"[yellow]quarantined[/yellow] {q.path}: {q.code}: {q.message}{hint}")


def run_forget(
    resources: Resources, settings: Settings, targets: tuple[str, ...], *, keep_file: bool
) -> None:
    """Erase paths or document ids; an inbox file's copy goes too, or it would come back."""
    resolved = [
        t if _is_doc_id(t) and not Path(t).exists() else str(Path(t).resolve()) for t in targets
    ]
    done = resources.ingestor.erase(resolved)
    inbox = settings.inbox_dir.resolve()
    for path in done.paths:
        p = Path(path)
        if p.is_relative_to(inbox) and p.exists():
            if keep_file:
                console.print(f"[yellow]kept[/yellow] {p}: it returns at the next inbox scan")
            else:
                p.unlink()
                console.print(f"deleted the inbox copy {p}")
    console.print(f"forgot {len(done.paths)} path(s)")
    for r in done.receipts:
        console.print(
            f"erasure receipt #{r.id}: document {r.doc_id[:16]}… ({r.chunks} chunks) "
            f"at {r.at} by {r.actor}"
        )


def _is_doc_id(text: str) -> bool:
    return 8 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text.lower())


def show_status(settings: Settings, resources: Resources) -> None:
    """Collections, documents, chunks, index health, interrupted work and quarantine."""
    from assistant.store import recovery
    from assistant.store.index import VectorIndex
    from assistant.store.journal import Journal
    from ingest.quarantine import Quarantine

    store = resources.store
    table = Table("collection", "documents", "chunks")
    for c in store.collections():
        table.add_row(c.name, str(c.documents), str(c.chunks))
    console.print(table)
    docs = Table("collection", "document", "path(s)")
    for doc in store.documents():
        docs.add_row(doc.collection, doc.title, "\n".join(store.paths_of(doc.id)) or doc.path)
    console.print(docs)
    counts = store.counts()
    console.print(
        f"{counts['documents']} documents, {counts['chunks']} chunks, {counts['paths']} paths"
    )
    probe = VectorIndex(settings.index_dir / "vectors.faiss", 1)  # only its path is read
    if recovery.saved_generation(probe) == store.generation():
        console.print("vector index: in step with the store")
    else:
        console.print("[yellow]vector index: out of step; it is rebuilt on the next start[/]")
    second = resources.multilingual_status()
    if second["state"] == "ready":
        console.print(f"multilingual index: {second['model']}, {second['vectors']} vectors")
    else:
        console.print(f"[yellow]multilingual index: {second['state']}: {second['reason']}[/]")
    for e in Journal(store).unfinished():
        console.print(f"[yellow]interrupted[/yellow] {e.path}: stopped after '{e.state}'")
    entries = Quarantine(settings.quarantine_dir).entries()
    for q in entries:
        hint = f" ({q.hint})" if q.hint else ""
        console.print(f"[yellow]quarantined[/yellow] {q.path}: {q.code}: {q.message}{hint}")
    console.print(f"{len(entries)} quarantined")


@click.command()
@click.option("--once", is_flag=True, help="Reconcile the index with the inbox, then exit")
@click.pass_context
@cli_errors
def watch(ctx: click.Context, once: bool) -> None:
    """Follow DATA_DIR/inbox/<collection>/: new, changed and removed files reach the index."""
    from ingest.watch import InboxWatcher

    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    resources = Resources(settings)
    try:
        watcher = InboxWatcher(
            resources.ingestor,
            settings.inbox_dir,
            debounce_ms=settings.watch_debounce_ms,
            force_polling=settings.watch_force_polling,
            on_report=lambda r: _print_if_changed(r),
        )
        if once:
            watcher.scan()
            return
        console.print(f"watching [bold]{watcher.inbox}[/bold] (Ctrl-C stops)")
        stop = threading.Event()
        try:
            watcher.run(stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        resources.close()


def _print_if_changed(report: IngestReport) -> None:
    s = report.summary()
    if any(s[k] for k in ("added", "changed", "duplicates", "removed", "quarantined")):
        print_report(report)
