"""Several isolated parser processes: files, and a long PDF's page windows, parsed in parallel.

Parsing sets the pace of PDF ingest (unstructured's "fast" pass reads ~5 pages/s
on one core; small HTML pages cost about as much CPU to parse as to embed), and
the ingest loop itself stays sequential: each file is checked, embedded and
committed in order (ingest/pipeline.py). So
``workers`` child processes (ingest/parsing/isolate.py, each under its own memory cap
and per-request timeout) parse the next files while the loop works
(ingest/parsing/ahead.py), and a long PDF's windows (ingest/parsing/pdf_windows.py) are spread
over all of them, so one big manual uses every core.

No task ever waits for another: a PDF's windows are submitted from the callback
of its planning request, and the document is assembled by the callback of its
last window. A pool of N threads over N parsers therefore cannot deadlock, and
an idle parser is always there for the thread that runs a task. Idle parsers
are reused last-in first-out, so a lone stream of files keeps one warm child
busy and a second child starts only when two requests run at once.

A child idle for ``idle_s`` (60 s) exits: two children hold ~1.4 GB once they
have parsed PDFs, which a server answering questions needs more than the few
seconds of imports the next file then costs.

The threads are daemons of our own rather than a ThreadPoolExecutor, whose
threads the interpreter joins at exit after running every queued task: Ctrl-C
during a 2,000-page PDF would wait for all its windows. Here closing the pool
kills the children, which ends the requests in flight at once.
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import Any, TypeVar

from assistant import errors
from ingest.parsing.isolate import IsolatedParser
from ingest.parsing.parse import ParsedDocument, ParseOptions, RawElement, any_text
from ingest.parsing.pdf_windows import PagedPdf, assemble_windows, windows

T = TypeVar("T")


def _settle(done: Future[ParsedDocument], result: ParsedDocument | BaseException) -> None:
    """Complete ``done`` once; a consumer may have cancelled it meanwhile."""
    if isinstance(result, BaseException) and not isinstance(result, errors.IngestError):
        result = errors.IngestError(f"{type(result).__name__}: {result}")
    try:
        if isinstance(result, BaseException):
            done.set_exception(result)
        else:
            done.set_result(result)
    except InvalidStateError:
        pass


class ParserPool:
    """``workers`` parser processes behind ``submit(path) -> Future[ParsedDocument]``."""

    def __init__(
        self,
        options: ParseOptions,
        *,
        timeout_s: float,
        memory_mb: int,
        workers: int,
        idle_s: float = 60.0,
    ) -> None:
        self.options = options
        self.workers = max(1, workers)
        self.idle_s = idle_s
        self._parsers = [
            IsolatedParser(options, timeout_s=timeout_s, memory_mb=memory_mb)
            for _ in range(self.workers)
        ]
        self._idle = list(reversed(self._parsers))
        self._idle_lock = threading.Lock()
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None]
        self._tasks = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def running(self) -> int:
        """How many parser processes are up."""
        return sum(p.running for p in self._parsers)

    @property
    def timeout_s(self) -> float:
        return self._parsers[0].timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        for parser in self._parsers:
            parser.timeout_s = value

    def _run(self, task: Callable[[IsolatedParser], T]) -> T:
        with self._idle_lock:
            parser = self._idle.pop()
        try:
            return task(parser)
        finally:
            with self._idle_lock:
                self._idle.append(parser)

    def _submit(self, task: Callable[[IsolatedParser], T]) -> Future[T]:
        """Queue ``task`` for the next free parser (RuntimeError once the pool is closed)."""
        future: Future[T] = Future()
        with self._idle_lock:
            if self._closed:
                raise RuntimeError("the parser pool is closed")
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._loop, name="parse", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._tasks.put((future, functools.partial(self._run, task)))
        return future

    def _loop(self) -> None:
        while True:
            try:
                item = self._tasks.get(timeout=self.idle_s / 2)
            except queue.Empty:
                self._stop_idle()
                continue
            if item is None:
                return
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _stop_idle(self) -> None:
        """Stop the children that have had nothing to do for ``idle_s``."""
        deadline = time.monotonic() - self.idle_s
        with self._idle_lock:
            idle = [p for p in self._idle if p.running and p.last_used < deadline]
        for parser in idle:  # one taken meanwhile stays up: its lock orders the two
            parser.close(unused_since=deadline)

    def submit(self, path: Path) -> Future[ParsedDocument]:
        """Start parsing ``path``; the future fails with an ``IngestError`` giving the reason.
        Cancelling it drops the requests not yet running."""
        done: Future[ParsedDocument] = Future()
        try:
            planned = self._submit(lambda parser: parser.plan(path))
        except RuntimeError as exc:  # shut down
            _settle(done, exc)
            return done
        done.add_done_callback(lambda d: planned.cancel() if d.cancelled() else None)
        planned.add_done_callback(functools.partial(self._planned, path, done))
        return done

    def parse(self, path: Path) -> ParsedDocument:
        return self.submit(path).result()

    def _planned(
        self, path: Path, done: Future[ParsedDocument], planned: Future[ParsedDocument | PagedPdf]
    ) -> None:
        if planned.cancelled():
            return
        exc = planned.exception()
        if exc is not None:
            _settle(done, exc)
            return
        result = planned.result()
        if isinstance(result, PagedPdf):
            _Windows(self, path, result, done).start(ocr=False)
        else:
            _settle(done, result)

    def close(self) -> None:
        """Cancel what is queued, stop the children (those mid-request at once)."""
        with self._idle_lock:
            self._closed = True
            idle = set(map(id, self._idle))
            while True:
                try:
                    item = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for _ in self._threads:
                self._tasks.put(None)
        for parser in self._parsers:
            if id(parser) not in idle:
                parser.kill()
            parser.close()


class _Windows:
    """One long PDF's windows in flight; settles ``done`` once: the document or the first failure.

    A failed window (timeout, crash, memory cap) fails the whole file, so it is
    quarantined and never indexed in part; the windows not yet started are
    cancelled."""

    def __init__(
        self, pool: ParserPool, path: Path, paged: PagedPdf, done: Future[ParsedDocument]
    ) -> None:
        self.pool, self.path, self.paged, self.done = pool, path, paged, done
        self.spans = windows(paged.pages, pool.options.pdf_window_pages)
        self.lock = threading.Lock()
        self.ocr = False
        self.parts: list[list[RawElement]] = []
        self.left = 0
        self.futures: list[Future[list[RawElement]]] = []
        done.add_done_callback(lambda d: self._cancel() if d.cancelled() else None)

    def start(self, *, ocr: bool) -> None:
        with self.lock:
            self.ocr, self.left = ocr, len(self.spans)
            self.parts = [[] for _ in self.spans]
            try:
                self.futures = [
                    self.pool._submit(functools.partial(_window, self.path, a, b, ocr))
                    for a, b in self.spans
                ]
            except RuntimeError as exc:  # shut down
                self._cancel()
                _settle(self.done, exc)
                return
            futures = list(self.futures)
        for i, future in enumerate(futures):
            future.add_done_callback(functools.partial(self._one, i, ocr))

    def _one(self, i: int, ocr: bool, future: Future[list[RawElement]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._cancel()
            _settle(self.done, exc)
            return
        with self.lock:
            if ocr != self.ocr or self.done.done():
                return
            self.parts[i] = future.result()
            self.left -= 1
            if self.left:
                return
        self._finish()

    def _finish(self) -> None:
        if not self.ocr and not any(any_text(p) for p in self.parts):
            self.start(ocr=True)  # no page has a text layer: a scan
            return
        try:
            doc = assemble_windows(self.path, self.paged, self.parts, self.ocr)
        except errors.IngestError as exc:
            _settle(self.done, exc)
            return
        _settle(self.done, doc)

    def _cancel(self) -> None:
        for future in self.futures:
            future.cancel()


def _window(
    path: Path, first: int, last: int, ocr: bool, parser: IsolatedParser
) -> list[RawElement]:
    return parser.window(path, first, last, ocr=ocr)


_shared: dict[tuple[ParseOptions, float, int, int], ParserPool] = {}
_shared_lock = threading.Lock()


def shared_pool(
    options: ParseOptions, *, timeout_s: float, memory_mb: int, workers: int
) -> ParserPool:
    """One pool per configuration per process: every Ingestor (and test) reuses it,
    so the seconds of parser imports are paid once per child, not once per Ingestor."""
    key = (options, timeout_s, memory_mb, workers)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            pool = _shared[key] = ParserPool(
                options, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers
            )
        return pool


@atexit.register
def _close_shared() -> None:
    for pool in list(_shared.values()):
        pool.close()
