"""Text generators behind one small Protocol, and an echo one for tests.

The real one is the GGUF model in its own worker process (assistant/models/
supervisor.py, which runs assistant/models/llama.py there).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from assistant.answering.prompt import Message, refusal
from assistant.text.language import detect


@runtime_checkable
class Generator(Protocol):
    name: str

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text pieces. Stops early when ``cancel`` is set."""
        ...


_SOURCE = re.compile(r"^\[(\d+)\] \([^)]*\)\n(.+?)(?:\n\n\[\d+\] \(|\n\nQuestion:)", re.S | re.M)


class EchoGenerator:
    """Deterministic stand-in: answers with the first sentence of source [1], cited.

    With no sources in the prompt it refuses, as the real model is told to, in the
    language of the question.
    """

    name = "echo"

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        user = messages[-1]["content"]
        match = _SOURCE.search(user)
        if match is None:
            reply = refusal(detect(user.rpartition("Question:")[2]))
        else:
            body = " ".join(match.group(2).split())
            first = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0]
            reply = f"{first} [{match.group(1)}]"
        for word in reply.split(" ")[:max_tokens]:
            if cancel is not None and cancel.is_set():
                return
            yield word + " "
