"""Child processes that talk over a socket pair: start one, stop it, say how it ended.

Code that can crash natively (parsers, the model) runs in such a child, so a
segfault, an abort or an OOM kill ends the child and never the server. Each
child is a fresh interpreter (``python -m MODULE FD``): no inherited threads or
locks and, unlike multiprocessing's spawn, no re-import of the caller's
``__main__``. It runs in its own process group, so a kill takes its helpers
(tesseract, OpenMP threads) along.

The handshake: the parent sends one start-up message; the child answers
``("ready", info)`` or ``("err", reason)``. Users: ingest/parsing/isolate.py (parsers)
and assistant/models/worker.py (the generation model).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)  # holds both assistant/ and ingest/


class StartFailed(Exception):
    """The child died, refused or timed out before it said it was ready."""

    def __init__(self, reason: str, *, crashed: bool, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.crashed = crashed  # died (a signal, an exit) rather than reported an error
        self.exit_code = exit_code


@dataclass
class Child:
    """A running child: its process and our end of the socket pair."""

    proc: subprocess.Popen[bytes]
    conn: Connection

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the child's whole process group, now, even mid-request."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self, *, kill: bool) -> int | None:
        """End the child (politely unless ``kill``) and return its exit code."""
        if kill:
            self.kill()
        elif self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.conn.send(None)  # "no more requests"
        self.conn.close()
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(5)


def start(
    module: str, hello: object, *, timeout_s: float, env: dict[str, str] | None = None
) -> tuple[Child, Any]:
    """Run ``python -m module FD``, send ``hello``, and wait for ``("ready", info)``.

    Returns the child and ``info``. Raises ``StartFailed`` when the child reports an
    error (``("err", reason)``), dies, or is not ready within ``timeout_s`` (it is
    then killed)."""
    ours, theirs = socket.socketpair()
    path = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
    with ours, theirs:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {}), "PYTHONPATH": path},
            process_group=0,
        )
        child = Child(proc, Connection(ours.detach()))
    try:
        child.conn.send(hello)
        if child.conn.poll(timeout_s):
            status, info = child.conn.recv()
            if status == "ready":
                return child, info
            child.stop(kill=True)
            raise StartFailed(str(info), crashed=False)
    except (EOFError, OSError):
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)  # it died: let its exit status arrive
    alive = proc.poll() is None
    code = child.stop(kill=True)
    if alive:
        raise StartFailed(f"not ready after {timeout_s:g} s", crashed=False, exit_code=code)
    raise StartFailed(describe_exit(code), crashed=True, exit_code=code)


def connect() -> Connection:
    """In the child: our end of the socket pair (``sys.argv[1]``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    return Connection(int(sys.argv[1]))


def requests(conn: Connection) -> Iterator[Any]:
    """In the child: each request, until the parent sends None or goes away."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        yield message


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
