"""One writer per index: an advisory ``flock`` on ``index/writer.lock``.

The server's inbox watcher keeps its FAISS index in memory; a second process
writing the same store (``assistant ingest`` from a shell) would leave that
copy stale and then be overwritten by it. So the first writer holds the lock
for as long as it lives, and a second one is refused with a clear message.
The kernel drops the lock when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from assistant.errors import IndexBusy


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexBusy(
                f"another process is writing this index ({self.path})",
                hint="the server's inbox watcher may own it: drop files into the inbox instead, "
                "or stop the server first",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
