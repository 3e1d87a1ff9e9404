"""Parse files in a child process, under a wall-clock timeout and a memory cap.

Parsers are large C and Python stacks (pdfminer, lxml, libxml2, tesseract)
fed untrusted bytes. Any of them may hang, blow up memory or crash; none of
that may take down the watcher or the server. So one worker process, a fresh
interpreter (``python -m ingest.parsing.isolate``: no inherited threads or locks, and
unlike multiprocessing's spawn no re-import of the caller's ``__main__``),
parses file after file:

- ``resource.setrlimit(RLIMIT_AS)`` caps its address space: an allocation
  past the cap fails inside the worker, never in the server;
- the parent waits at most ``timeout_s`` for each answer, then kills the
  worker's whole process group (tesseract included) and reports a timeout;
- a worker that dies (segfault, OOM kill) is reported as a crash.

After any of these the worker is replaced on the next file. It is reused
otherwise, because importing unstructured's PDF stack (torch included) costs
seconds, and it is recycled after ``max_files`` requests to bound slow leaks.

A request is a whole file, or one window of pages of a long PDF
(ingest/parsing/pdf_windows.py): for those the cap and the timeout hold per window,
and :meth:`IsolatedParser.parse` asks for the windows one after the other.
Several workers in parallel: ingest/parsing/pool.py.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from assistant import errors, workers
from assistant.workers import Child, describe_exit
from ingest.parsing.parse import ParsedDocument, ParseOptions, RawElement
from ingest.parsing.pdf_windows import PagedPdf, parse_paged

#: How long a fresh worker may take to start (its heavy imports come later, per format).
STARTUP_TIMEOUT_S = 60.0

#: Reasons the worker may send back, by class name (exceptions are rebuilt, not pickled).
_REASONS: dict[str, type[errors.IngestError]] = {
    cls.__name__: cls
    for cls in (
        errors.IngestError,
        errors.UnsupportedFormat,
        errors.EmptyDocument,
        errors.FileTooLarge,
        errors.CorruptFile,
        errors.EncryptedDocument,
        errors.ZipBomb,
        errors.TooDeeplyNested,
        errors.OcrUnavailable,
        errors.ParseTimeout,
        errors.ParseMemoryLimit,
        errors.ParserCrashed,
    )
}


def _worker(conn: Connection) -> None:
    """The child: answer each request ("ok", result) or ("err", reason).

    ``("plan", path)``: the ParsedDocument, or a PagedPdf for a long PDF;
    ``("window", path, first, last, ocr)``: that window's raw elements."""
    # No neural model ever runs here (PDFs: pdfminer or tesseract, never the layout model),
    # yet spaCy's thinc imports torch when it can: ~200 MB resident and ~1.5 s per child,
    # times the pool's workers. thinc treats torch as optional, so it is made unimportable.
    sys.modules["torch"] = None  # type: ignore[assignment]
    import assistant.offline  # noqa: F401  (offline env before unstructured is imported)
    from ingest.parsing.pdf_windows import parse_window, plan

    options, memory_bytes = conn.recv()
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    conn.send(("ready", os.getpid()))
    for message in workers.requests(conn):
        try:
            if message[0] == "window":
                _, path, first, last, ocr = message
                result: Any = parse_window(Path(path), first, last, options, ocr=ocr)
            else:
                result = plan(Path(message[1]), options)
            conn.send(("ok", result))
            continue
        except errors.IngestError as exc:
            recycle = isinstance(exc, errors.ParseMemoryLimit)
            reason = (type(exc).__name__, exc.message, exc.hint, recycle)
        except MemoryError:
            limit = memory_bytes // (1024 * 1024)
            reason = ("ParseMemoryLimit", f"parsing needed more than the {limit:,} MB memory cap",
                      "raise ASSISTANT_PARSE_MEMORY_MB or split the file", True)  # fmt: skip
        except BaseException as exc:  # the worker reports everything; the parent decides
            reason = ("IngestError", f"{type(exc).__name__}: {exc}", None, True)
        try:
            conn.send(("err", reason))
        except (OSError, MemoryError):
            return
        if reason[3]:
            return  # state may be damaged: let the parent start a fresh worker


class IsolatedParser:
    """One reusable parser process. Thread-safe; one request at a time."""

    def __init__(
        self,
        options: ParseOptions,
        *,
        timeout_s: float,
        memory_mb: int,
        max_files: int = 500,
    ) -> None:
        self.options = options
        self.timeout_s = timeout_s
        self.memory_bytes = memory_mb * 1024 * 1024
        self.max_files = max_files
        self._child: Child | None = None
        self._served = 0
        self._lock = threading.Lock()
        self.last_used = time.monotonic()

    def _start(self) -> Child:
        try:
            child, _pid = workers.start(
                "ingest.parsing.isolate",
                (self.options, self.memory_bytes),
                timeout_s=STARTUP_TIMEOUT_S,
            )
        except workers.StartFailed as exc:
            raise errors.ParserCrashed(
                f"the parser process could not start ({exc.reason})"
            ) from None
        self._child, self._served = child, 0
        return child

    def _stop(self, *, kill: bool) -> int | None:
        child, self._child = self._child, None
        return None if child is None else child.stop(kill=kill)

    def parse(self, path: Path) -> ParsedDocument:
        """Parse ``path`` in the worker, a long PDF window by window.
        Raises an ``IngestError`` subclass with the reason."""
        first = self.plan(path)
        if isinstance(first, ParsedDocument):
            return first

        def window(start: int, end: int, ocr: bool) -> list[RawElement]:
            return self.window(path, start, end, ocr=ocr)

        return parse_paged(path, first, self.options.pdf_window_pages, window)

    def plan(self, path: Path) -> ParsedDocument | PagedPdf:
        """The document, or for a PDF longer than one window its page count."""
        result = self._ask(("plan", str(path)), "parsing")
        assert isinstance(result, ParsedDocument | PagedPdf)
        return result

    def window(self, path: Path, first: int, last: int, *, ocr: bool) -> list[RawElement]:
        """The raw elements of pages ``first``..``last`` of the PDF ``path``."""
        result = self._ask(("window", str(path), first, last, ocr), f"parsing pages {first}-{last}")
        assert isinstance(result, list)
        return result

    def _ask(self, request: tuple[Any, ...], what: str) -> object:
        with self._lock:
            if self._child is not None and (
                not self._child.alive() or self._served >= self.max_files
            ):
                self._stop(kill=False)
            child = self._child or self._start()
            try:
                child.conn.send(request)
            except OSError:  # died between files: one fresh worker, one more try
                self._stop(kill=True)
                child = self._start()
                child.conn.send(request)
            conn = child.conn
            if not conn.poll(self.timeout_s):
                self._stop(kill=True)
                raise errors.ParseTimeout(
                    f"{what} took longer than {self.timeout_s:g} s and was stopped",
                    hint="raise ASSISTANT_PARSE_TIMEOUT_S if the file is just large",
                )
            try:
                status, payload = conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(5)
                code = self._stop(kill=True)
                raise errors.ParserCrashed(
                    f"the parser process died ({describe_exit(code)}) while {what}; "
                    f"memory cap {self.memory_bytes // (1024 * 1024):,} MB"
                ) from None
            self._served += 1
            self.last_used = time.monotonic()
            if status == "ok":
                return payload
            name, message, hint, recycle = payload
            if recycle:
                self._stop(kill=False)
            raise _REASONS.get(name, errors.IngestError)(message, hint=hint)

    @property
    def running(self) -> bool:
        return self._child is not None

    def close(self, *, unused_since: float | None = None) -> None:
        """Stop the worker (only if unused since that ``time.monotonic()`` when given);
        the next request starts a fresh one."""
        with self._lock:
            if unused_since is None or self.last_used < unused_since:
                self._stop(kill=False)

    def kill(self) -> None:
        """Kill the worker now, even mid-request (the request then fails as a crash)."""
        child = self._child
        if child is not None:
            child.kill()


if __name__ == "__main__":
    _worker(workers.connect())
