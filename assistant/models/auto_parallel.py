"""``PARALLEL=auto``: decode several answers together only where this CPU makes it pay.

A decode step of one answer reads every weight once; a step of four reads them once too,
but multiplies four rows by them. Where reading bounds a step (the Intel Xeon with AMX,
no-amx mode: a step of 4 costs ~1.8x a step of 1), four answers together write ~2.2x
the tokens of one alone. Where the multiplications bound it (the AVX-512 EPYC: ~2.8x;
the AVX2 EPYC: ~3-4x), batching gains 1.0-1.4x in all while each answer runs at a
third of its speed, and the one-at-a-time generator keeps what it has of its own (the
split prefill, models/prefill.py). So the worker measures, at start, as it already
times the split prefill: :func:`batching_gain` decodes the same few tokens alone and
``parallel`` at once, and :class:`AutoParallelGenerator` keeps the batched engine when
the gain reaches ``MIN_GAIN``, or loads the one-at-a-time generator instead. The
measured gain and the choice are in the start-up probe's record (``/readyz``, audit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.models.batched import BatchedLlamaGenerator
from assistant.models.batching import Sequence as Seq
from assistant.models.cpu import CpuMode
from assistant.models.llama import LlamaGenerator
from assistant.models.prefill import SplitPrefill

#: Answers decoded together when batching is kept (llama.cpp's server also has 4 slots).
WIDTH = 4
#: Keep batching when ``WIDTH`` answers together write at least this many times the
#: tokens of one alone (measured: Xeon 2.1-2.5x; AVX-512 EPYC 1.4x; AVX2 EPYC 1.0-1.4x).
MIN_GAIN = 1.8
#: What the probe decodes: a count the model goes on with, the same for every sequence.
PROBE_PROMPT = b"1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
PROBE_TOKENS = 16


def decode_stamps(
    engine: Any, seqs: Sequence[Seq], timeout_s: float = 120.0
) -> list[list[tuple[float, float]]]:
    """Submit ``seqs`` together and wait until each ends; for each, the (wall clock, this
    process's CPU time) at every piece it wrote. A failed sequence raises."""
    stamps: list[list[tuple[float, float]]] = [[] for _ in seqs]
    ended = [False] * len(seqs)
    for seq in seqs:
        engine.submit(seq)
    deadline = time.monotonic() + timeout_s
    while not all(ended):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sequences did not end in {timeout_s:g} s")
        for i, seq in enumerate(seqs):
            while not ended[i] and not seq.events.empty():
                kind, value = seq.events.get()
                if kind == "piece":
                    stamps[i].append((time.perf_counter(), time.process_time()))
                elif kind == "fail":
                    raise RuntimeError(value)
                elif kind == "end":
                    ended[i] = True
        time.sleep(0.002)
    return stamps


def _cpu_per_token(engine: Any, prompt: list[int], width: int, tokens: int) -> float:
    """CPU seconds of this process per token while ``width`` sequences decode together
    (from the last one's first token to the first one's end: the prompts read before)."""
    stamps = decode_stamps(engine, [Seq(list(prompt), tokens) for _ in range(width)])
    start = max(s[0][1] for s in stamps)
    stop = min(s[-1][1] for s in stamps)
    inside = sum(1 for s in stamps for _, cpu in s if start < cpu <= stop)
    return (stop - start) / inside if inside else float("inf")


def batching_gain(gen: BatchedLlamaGenerator, width: int = WIDTH, rounds: int = 2) -> float:
    """Tokens per CPU-second of ``width`` answers decoded together ÷ of one alone: the
    best of ``rounds`` interleaved rounds each (CPU time: another busy process on the
    cores slows the wall clock of both, not what a step costs)."""
    engine = gen.load()
    prompt = gen.prompt_tokens_raw(PROBE_PROMPT)
    best = {1: float("inf"), width: float("inf")}
    for _ in range(rounds):
        for w in best:
            best[w] = min(best[w], _cpu_per_token(engine, prompt, w, PROBE_TOKENS))
    return best[1] / best[width] if best[width] > 0 else 0.0


class AutoParallelGenerator:
    """A Generator (answering/generator.py) that is, after its start-up :meth:`probe`,
    either ``BatchedLlamaGenerator(parallel=WIDTH)`` or ``LlamaGenerator``: the one this
    CPU serves more answers with. ``capacity`` is the choice's (1 until it is made)."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str,
        sha256: str,
        cpu_mode: CpuMode = "extra",
        parallel: int = WIDTH,
        split_prefill: SplitPrefill = "auto",
        min_gain: float = MIN_GAIN,
        **common: Any,
    ) -> None:
        self.model_path = Path(model_path)
        self.name = name
        self.sha256 = sha256
        self.cpu_mode = cpu_mode
        self.width = parallel
        self.split_prefill = split_prefill
        self.min_gain = min_gain
        self.common = common  # context_size, threads, flash_attn, sampling …
        self._inner: Any = None
        self._info: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _args(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "cpu_mode": self.cpu_mode, **self.common}

    def _choose(self) -> tuple[Any, dict[str, Any]]:
        batched = BatchedLlamaGenerator(
            self.model_path, parallel=self.width, split_prefill=self.split_prefill, **self._args()
        )
        info = batched.probe()  # where this CPU mode crashes, it crashes here
        started = time.perf_counter()
        gain = batching_gain(batched, self.width)
        batched.load().forget()  # the probe's count is no prefix for the answers
        choice: dict[str, Any] = {
            "setting": "auto",
            "width": self.width,
            "gain": round(gain, 2),
            "min_gain": self.min_gain,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if gain >= self.min_gain:
            return batched, {**info, "batching": {**choice, "capacity": self.width}}
        batched.close()  # its engine thread, and the OpenMP threads it computed with, end
        one = LlamaGenerator(self.model_path, split_prefill=self.split_prefill, **self._args())
        return one, {**one.probe(), "batching": {**choice, "capacity": 1}}

    def probe(self) -> dict[str, Any]:
        with self._lock:
            if self._inner is None:
                self._inner, self._info = self._choose()
            return self._info

    def load(self) -> Any:
        self.probe()
        return self._inner.load()

    @property
    def capacity(self) -> int:
        return int(getattr(self._inner, "capacity", 1)) if self._inner is not None else 1

    @property
    def loaded(self) -> bool:
        return self._inner is not None and bool(self._inner.loaded)

    @property
    def last_prompt(self) -> tuple[int, int] | None:
        value: tuple[int, int] | None = getattr(self._inner, "last_prompt", None)
        return value

    def count_tokens(self, text: str) -> int:
        self.probe()
        return int(self._inner.count_tokens(text))

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.probe()
        yield from self._inner.stream(messages, max_tokens=max_tokens, cancel=cancel)

    def close(self) -> None:
        with self._lock:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
            self._inner = None
