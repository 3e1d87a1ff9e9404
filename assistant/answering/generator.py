"""Text generators behind one small Protocol: llama.cpp on CPU, and an echo one for tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from assistant.answering.prompt import REFUSAL, Message


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


class LlamaGenerator:
    """A GGUF model run by llama-cpp-python, with the chat template stored in the GGUF.

    Loaded lazily once. llama.cpp contexts are not thread-safe, so one lock
    serialises generations; the fair queue in front of it comes later.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        name: str,
        sha256: str,
        context_size: int = 4096,
        threads: int = 2,
        threads_batch: int | None = None,
        batch_size: int = 512,
        ubatch_size: int = 512,
        flash_attn: bool = False,
        temperature: float = 0.0,
        repeat_penalty: float = 1.1,
    ) -> None:
        self.model_path = model_path
        self.repeat_penalty = repeat_penalty
        self.name = name
        self.sha256 = sha256
        self.context_size = context_size
        self.threads = threads
        self.threads_batch = threads_batch or threads
        self.batch_size = batch_size
        self.ubatch_size = min(ubatch_size, batch_size)
        self.flash_attn = flash_attn
        self.temperature = temperature
        self._llm: Any = None
        self._lock = threading.Lock()
        #: (prompt tokens, of which reused from the KV cache) of the current/last answer,
        #: set when its first piece is yielded: the service reports it with the timings.
        self.last_prompt: tuple[int, int] | None = None

    def load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.context_size,
                n_threads=self.threads,
                n_threads_batch=self.threads_batch,
                n_batch=self.batch_size,
                n_ubatch=self.ubatch_size,
                flash_attn=self.flash_attn,
                verbose=False,
            )
        return self._llm

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        with self._lock:
            llm = self.load()
            self.last_prompt = None
            before = _kv_tokens(llm).copy()  # what the KV cache holds: a prefix is reused
            chunks = llm.create_chat_completion(
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                stream=True,
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        if self.last_prompt is None:
                            self.last_prompt = _prompt_usage(before, _kv_tokens(llm))
                        yield text
            finally:
                chunks.close()


def _kv_tokens(llm: Any) -> Any:
    """The tokens in the context's KV cache (``input_ids`` is the whole n_ctx buffer)."""
    return llm.input_ids[: llm.n_tokens]


def _prompt_usage(before: Any, now: Any) -> tuple[int, int]:
    """(prompt tokens, tokens reused from the cache) at the first piece of an answer.

    ``now`` is the KV cache's tokens once the prompt was evaluated and the first
    token sampled (the piece's token is not evaluated yet), so its length is the
    prompt's; the prefix it shares with ``before`` was not evaluated again.
    """
    n = min(len(before), len(now))
    differ = (before[:n] != now[:n]).nonzero()[0]
    return len(now), int(differ[0]) if len(differ) else n


_SOURCE = re.compile(r"^\[(\d+)\] \([^)]*\)\n(.+?)(?:\n\n\[\d+\] \(|\n\nQuestion:)", re.S | re.M)


class EchoGenerator:
    """Deterministic stand-in: answers with the first sentence of source [1], cited.

    With no sources in the prompt it refuses, as the real model is told to.
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
            reply = REFUSAL
        else:
            body = " ".join(match.group(2).split())
            first = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0]
            reply = f"{first} [{match.group(1)}]"
        for word in reply.split(" ")[:max_tokens]:
            if cancel is not None and cancel.is_set():
                return
            yield word + " "
