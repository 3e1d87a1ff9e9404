"""Deterministic generators for the model's worker process (assistant/models/worker.py).

They run in the real worker, through the same socket protocol as the GGUF model;
only the model is replaced. ``crash_modes``: CPU modes whose start-up probe dies of
SIGSEGV, as llama.cpp's AMX path does on Intel Xeons.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


class StepGenerator:
    """Answers ``word0 word1 …`` one word per ``delay`` seconds."""

    def __init__(
        self,
        *,
        cpu_mode: str,
        crash_modes: Sequence[str] = (),
        tokens: int = 40,
        delay: float = 0.02,
        fail_load: str | None = None,
        probe_delay: float = 0.0,
        capacity: int = 1,
        say_thread: bool = False,
    ) -> None:
        if fail_load:
            raise ValueError(fail_load)
        self.cpu_mode = cpu_mode
        self.crash_modes = tuple(crash_modes)
        self.tokens = tokens
        self.delay = delay
        self.probe_delay = probe_delay
        self.name = "step"
        self.capacity = capacity  # answers streamed at once (each on its own thread)
        self._local = threading.local()
        self.say_thread = say_thread  # answer first whether it runs on the probe's thread
        self.probe_thread: int | None = None

    @property
    def last_prompt(self) -> tuple[int, int] | None:
        value: tuple[int, int] | None = getattr(self._local, "last_prompt", None)
        return value

    def probe(self) -> dict[str, Any]:
        if self.cpu_mode in self.crash_modes:
            os.kill(os.getpid(), signal.SIGSEGV)
        self.probe_thread = threading.get_ident()
        time.sleep(self.probe_delay)
        return {"system_info": f"step generator, {self.cpu_mode}"}

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self._local.last_prompt = (sum(len(m["content"].split()) for m in messages), 0)
        if self.say_thread:
            yield "probe-thread " if threading.get_ident() == self.probe_thread else "other-thread "
        for i in range(min(self.tokens, max_tokens)):
            if cancel is not None and cancel.is_set():
                return
            time.sleep(self.delay)
            yield f"word{i} "
