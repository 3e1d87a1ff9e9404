"""Parse files in a child process, under a wall-clock timeout and a memory cap.

Parsers are large C and Python stacks (pdfminer, lxml, libxml2, tesseract)
fed untrusted bytes. Any of them may hang, blow up memory or crash; none of
that may take down the watcher or the server. So one worker process, a fresh
interpreter (``python -m ingest.isolate``: no inherited threads or locks, and
unlike multiprocessing's spawn no re-import of the caller's ``__main__``),
parses file after file:

- ``resource.setrlimit(RLIMIT_AS)`` caps its address space: an allocation
  past the cap fails inside the worker, never in the server;
- the parent waits at most ``timeout_s`` for each answer, then kills the
  worker's whole process group (tesseract included) and reports a timeout;
- a worker that dies (segfault, OOM kill) is reported as a crash.

After any of these the worker is replaced on the next file. It is reused
otherwise, because importing unstructured's PDF stack (torch included) costs
seconds, and it is recycled after ``max_files`` to bound slow leaks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from assistant import errors
from ingest.parse import ParsedDocument, ParseOptions

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
    """The child: parse each path received, answer ("ok", doc) or ("err", reason)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import assistant.offline  # noqa: F401  (offline env before unstructured is imported)
    from ingest.parse import parse_file

    options, memory_bytes = conn.recv()
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        try:
            conn.send(("ok", parse_file(Path(message), options)))
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


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class IsolatedParser:
    """One reusable parser process. Thread-safe; one file at a time."""

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
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._served = 0
        self._lock = threading.Lock()

    def _start(self) -> tuple[subprocess.Popen[bytes], Connection]:
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        with ours, theirs:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ingest.isolate", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                process_group=0,  # its own group: a timeout kills tesseract along with it
            )
            conn = Connection(ours.detach())
        self._proc, self._conn, self._served = proc, conn, 0
        try:
            conn.send((self.options, self.memory_bytes))
            if conn.poll(STARTUP_TIMEOUT_S) and conn.recv()[0] == "ready":
                return proc, conn
        except (EOFError, OSError):
            pass
        code = self._stop(kill=True)
        raise errors.ParserCrashed(f"the parser process could not start ({describe_exit(code)})")

    def _stop(self, *, kill: bool) -> int | None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return None
        if kill and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        elif conn is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                conn.send(None)
        if conn is not None:
            conn.close()
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def parse(self, path: Path) -> ParsedDocument:
        """Parse ``path`` in the worker. Raises an ``IngestError`` subclass with the reason."""
        with self._lock:
            if self._proc is not None and (
                self._proc.poll() is not None or self._served >= self.max_files
            ):
                self._stop(kill=False)
            proc, conn = (self._proc, self._conn) if self._proc else self._start()
            assert conn is not None
            try:
                conn.send(str(path))
            except OSError:  # died between files: one fresh worker, one more try
                self._stop(kill=True)
                proc, conn = self._start()
                conn.send(str(path))
            if not conn.poll(self.timeout_s):
                self._stop(kill=True)
                raise errors.ParseTimeout(
                    f"parsing took longer than {self.timeout_s:g} s and was stopped",
                    hint="raise ASSISTANT_PARSE_TIMEOUT_S if the file is just large",
                )
            try:
                status, payload = conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
                code = self._stop(kill=True)
                raise errors.ParserCrashed(
                    f"the parser process died on this file ({describe_exit(code)}); "
                    f"memory cap {self.memory_bytes // (1024 * 1024):,} MB"
                ) from None
            self._served += 1
            if status == "ok":
                assert isinstance(payload, ParsedDocument)
                return payload
            name, message, hint, recycle = payload
            if recycle:
                self._stop(kill=False)
            raise _REASONS.get(name, errors.IngestError)(message, hint=hint)

    def close(self) -> None:
        with self._lock:
            self._stop(kill=False)


_shared: dict[tuple[ParseOptions, float, int], IsolatedParser] = {}
_shared_lock = threading.Lock()


def shared_parser(options: ParseOptions, *, timeout_s: float, memory_mb: int) -> IsolatedParser:
    """One worker per configuration per process: every Ingestor (and test) reuses it,
    so the seconds of parser imports are paid once, not once per Ingestor."""
    key = (options, timeout_s, memory_mb)
    with _shared_lock:
        parser = _shared.get(key)
        if parser is None:
            parser = _shared[key] = IsolatedParser(
                options, timeout_s=timeout_s, memory_mb=memory_mb
            )
        return parser


@atexit.register
def _close_shared() -> None:
    for parser in list(_shared.values()):
        parser.close()


if __name__ == "__main__":
    _worker(Connection(int(sys.argv[1])))
