"""A Generator that takes its time, for queue and cancel tests. It records how it ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from assistant.answering.prompt import Message


class SlowGenerator:
    name = "slow"

    def __init__(self, *, tokens: int = 200, delay: float = 0.05) -> None:
        self.tokens = tokens
        self.delay = delay
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.cancelled = False
        self.emitted = 0

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.started.set()
        try:
            for i in range(min(self.tokens, max_tokens)):
                if cancel is not None and cancel.is_set():
                    self.cancelled = True
                    return
                time.sleep(self.delay)
                self.emitted += 1
                yield f"word{i} "
        finally:
            self.stopped.set()
