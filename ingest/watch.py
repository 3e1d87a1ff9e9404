"""Follow ``data/inbox/<collection>/`` (any depth): the folder is the source of truth.

On start the watcher reconciles: every file in the inbox is ingested (an
unchanged one costs a ``stat``) and every indexed inbox path that is gone
from disk is erased -- files removed while nothing was running included.
Then it follows changes through watchfiles (inotify; polling if asked):
a batch of events, after ``debounce_ms`` of quiet, becomes one ingest call.
A new, changed or removed file reaches the index within a few seconds.

The watch starts *before* the reconciling scan, so nothing that lands during
the scan is missed. A failure in one batch is logged and the watcher goes on:
a parser crash or hang is already contained by ingest/parsing/isolate.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from ingest.erase import who
from ingest.pipeline import Ingestor, IngestReport, discover, is_ignored

if TYPE_CHECKING:
    from assistant.settings import Settings

log = logging.getLogger(__name__)

#: Collection of files put directly in the inbox, outside any collection folder.
DEFAULT_COLLECTION = "default"

ReportSink = Callable[[IngestReport], None]


def collection_of(inbox: Path, path: Path) -> str:
    parts = path.relative_to(inbox).parts
    return parts[0] if len(parts) > 1 else DEFAULT_COLLECTION


class InboxWatcher:
    def __init__(
        self,
        ingestor: Ingestor,
        inbox: Path,
        *,
        debounce_ms: int = 800,
        force_polling: bool = False,
        on_report: ReportSink | None = None,
    ) -> None:
        inbox.mkdir(parents=True, exist_ok=True)
        self.ingestor = ingestor
        self.inbox = inbox.resolve()
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self.on_report = on_report
        self.actor = who("watcher")

    def scan(self) -> IngestReport:
        """Reconcile the index with the inbox as it is now."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        items = [(f, collection_of(self.inbox, f)) for f in discover([self.inbox])]
        report = self.ingestor.ingest_files(items, prune_under=[str(self.inbox)], actor=self.actor)
        self._publish(report)
        return report

    def handle(self, changed: Iterable[str]) -> IngestReport:
        """Ingest what exists among ``changed`` paths, erase what is gone."""
        items: list[tuple[Path, str]] = []
        gone: list[str] = []
        for raw in sorted(set(changed)):
            path = Path(raw)
            try:
                rel = path.relative_to(self.inbox)
            except ValueError:
                continue
            if any(is_ignored(part) for part in rel.parts):
                continue
            if path.is_file():
                items.append((path, collection_of(self.inbox, path)))
            elif path.is_dir():
                items.extend((f, collection_of(self.inbox, f)) for f in discover([path]))
            else:
                gone.append(str(path))
        report = self.ingestor.ingest_files(items, prune_under=gone, actor=self.actor)
        self._publish(report)
        return report

    def run(self, stop: threading.Event) -> None:
        """Scan, then follow changes until ``stop`` is set. Never raises for a bad batch."""
        scanned = False
        for changes in watchfiles.watch(
            self.inbox,
            stop_event=stop,
            debounce=self.debounce_ms,
            rust_timeout=1000,
            yield_on_timeout=True,  # the first (empty) yield means the watch is live: scan then
            raise_interrupt=False,
            force_polling=self.force_polling,
        ):
            if not scanned:
                self._safely(self.scan)
                scanned = True
            if changes:
                paths = [p for _, p in changes]
                self._safely(lambda paths=paths: self.handle(paths))  # type: ignore[misc]
            else:
                self._safely(self._tick)

    def _tick(self) -> IngestReport:
        self.ingestor.tick()
        return IngestReport()

    def _safely(self, work: Callable[[], IngestReport]) -> None:
        try:
            work()
        except Exception:
            log.exception("inbox batch failed; the watcher goes on")

    def _publish(self, report: IngestReport) -> None:
        s = report.summary()
        if any(s[k] for k in ("added", "changed", "duplicates", "removed", "quarantined")):
            log.info("inbox: %s", s)
        if self.on_report is not None:
            self.on_report(report)


class WatcherService:
    """The watcher on a background thread, for ``assistant serve`` (setting ``watch_inbox``).

    The ingestor is built on that thread: loading the embedder must not delay startup.
    """

    def __init__(
        self, make_ingestor: Callable[[], Ingestor], inbox: Path, **options: object
    ) -> None:
        self.make_ingestor = make_ingestor
        self.inbox = inbox
        self.options = options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inbox-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            watcher = InboxWatcher(self.make_ingestor(), self.inbox, **self.options)  # type: ignore[arg-type]
            watcher.run(self._stop)
        except Exception:
            log.exception("the inbox watcher could not start")

    def stop(self) -> None:
        """Stop and wait (at most 10 s) for the batch in hand. Takes no argument: Litestar
        passes the app to shutdown hooks that accept one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)


def service_from_settings(
    settings: Settings, make_ingestor: Callable[[], Ingestor]
) -> WatcherService:
    """The watcher ``assistant serve`` runs when ``watch_inbox`` is set."""
    return WatcherService(
        make_ingestor,
        settings.inbox_dir,
        debounce_ms=settings.watch_debounce_ms,
        force_polling=settings.watch_force_polling,
    )
