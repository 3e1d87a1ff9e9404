"""One model worker process's socket, shared by the answers in flight.

models/model_worker.py sends each request with an id (models/worker.py's protocol);
a reader thread of this link hands each reply to the queue of its request. When the
socket breaks (the worker died), every request in flight gets ``("crashed", None)``.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any

from assistant import workers


class WorkerLink:
    """One worker process's socket, shared by the requests in flight: a reader thread
    hands each reply to its request's queue; when the socket breaks (the worker died),
    every request in flight is told so."""

    def __init__(self, child: workers.Child) -> None:
        self.child = child
        self._lock = threading.Lock()
        self._queues: dict[int, queue.Queue[tuple[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._broken = False
        threading.Thread(target=self._read, daemon=True, name=f"model-replies-{child.pid}").start()

    def open(self) -> tuple[int, queue.Queue[tuple[str, Any]]]:
        with self._lock:
            if self._broken:
                raise EOFError
            rid = next(self._ids)
            replies: queue.Queue[tuple[str, Any]] = queue.Queue()
            self._queues[rid] = replies
            return rid, replies

    def close(self, rid: int) -> None:
        with self._lock:
            self._queues.pop(rid, None)

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self.child.conn.send(message)

    def _read(self) -> None:
        while True:
            try:
                kind, rid, value = self.child.conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                replies = self._queues.get(rid)
            if replies is not None:
                replies.put((kind, value))
        with self._lock:
            self._broken = True
            for replies in self._queues.values():
                replies.put(("crashed", None))

    def abandon(self, rid: int) -> None:
        """The reader stopped early: cancel, and wait for the answer's end so the worker
        holds no more answers than its capacity. One that does not end in time is
        killed (and restarted)."""
        with self._lock:
            replies = self._queues.get(rid)
        if replies is None or not self.child.alive():
            return
        try:
            self.send(("cancel", rid))
        except OSError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if replies.get(timeout=0.1)[0] in ("end", "fail", "crashed"):
                    return
            except queue.Empty:
                continue
        self.child.kill()
