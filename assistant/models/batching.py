# Over 300 lines: the engine's thread owns the context; its loop, admission, steps and
# sampling are one piece of state and stay together.
"""Continuous batching: several answers decoded together in one llama.cpp context.

One decode step reads every weight once whatever the number of sequences in it, so
on a CPU, answers decoded together cost little more than one alone. As llama.cpp's
own server does: each of ``parallel`` slots is a sequence id of one context; a new
answer takes a free slot at the next step and one that ends frees its slot; a
prompt is read in chunks within the same steps as the others' next tokens, so a
long prompt does not stall the answers already running (``PREFILL_CHUNK``).

A slot keeps its sequence's KV cells when the answer ends: the next prompt reuses
the longest prefix found in any slot (the system prompt), copied with
``llama_memory_seq_cp`` (cells are shared, not duplicated, in a unified cache).
Sampling is per sequence, as llama-cpp-python samples for a lone answer:
repetition penalty over the last 64 generated tokens, then greedy (at temperature 0).

:class:`BatchEngine` runs on one thread of its own and owns the context; the
callers (models/batched.py) submit :class:`Sequence` objects and read their events.
"""

from __future__ import annotations

import codecs
import ctypes
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.models.prefill import MIN_TOKENS, PlainPrefill, common_prefix

T = TypeVar("T")

#: as llama-cpp-python's ``Llama(last_n_tokens_size=64)``: the penalty's window
PENALTY_LAST_N = 64
#: prompt tokens read per step while other answers are being written: a step with a
#: full batch of 512 would hold their next token back for seconds on a small CPU
PREFILL_CHUNK = 128


@dataclass(eq=False)
class Sequence:
    """One answer: its prompt tokens in, events out (``("usage", (prompt, reused))``,
    ``("piece", text)``, then ``("end", None)`` or ``("fail", reason)``)."""

    tokens: list[int]
    max_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    events: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    # the engine's state
    slot: int = -1
    n_past: int = 0  # tokens of ``tokens`` in the KV cache
    generated: int = 0
    last: int = -1  # the sampled token not yet evaluated (-1: still reading the prompt)
    reused: int = 0

    def __post_init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")


class BatchEngine:
    """Decodes up to ``parallel`` sequences together in one context of ``model``."""

    def __init__(
        self,
        model: Any,
        *,
        parallel: int,
        context_size: int,
        threads: int,
        threads_batch: int,
        batch_size: int,
        ubatch_size: int,
        flash_attn: bool,
        repeat_penalty: float,
        temperature: float = 0.0,
        prefill: PlainPrefill | None = None,
    ) -> None:
        import llama_cpp.llama_cpp as L

        self.L = L
        self.parallel = parallel
        self.context_size = context_size  # per sequence
        self.batch_size = batch_size
        self.repeat_penalty = repeat_penalty
        self.temperature = temperature
        self.prefill = prefill  # reads a prompt when it is the only answer (_split)
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        p = L.llama_context_default_params()
        p.n_ctx = context_size * parallel
        p.n_batch = batch_size
        p.n_ubatch = min(ubatch_size, batch_size)
        p.n_seq_max = parallel
        p.n_threads, p.n_threads_batch = threads, threads_batch
        p.kv_unified = True  # one cache: a shared prefix is one set of cells
        p.flash_attn_type = (
            L.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        self.ctx = L.llama_init_from_model(model, p)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create the batched context")
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(batch_size, 0, 1)
        self.samplers = [self._sampler() for _ in range(parallel)]
        self.cache: list[list[int]] = [[] for _ in range(parallel)]  # tokens in each slot
        self.used = [0] * parallel  # when each slot was last taken (LRU)
        self.added = [0] * parallel  # tokens of each slot in the batch being built
        self.running: list[Sequence | None] = [None] * parallel
        self.waiting: list[Sequence] = []
        self.cond = threading.Condition()
        self.closing = False
        #: work for the engine's thread when no answer runs (``call``)
        self._tasks: list[tuple[Callable[[], Any], Future[Any]]] = []
        self.steps = 0
        self.thread = threading.Thread(target=self._loop, daemon=True, name="batch-engine")
        self.thread.start()

    def _sampler(self) -> Any:
        L = self.L
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        penalties = L.llama_sampler_init_penalties(
            self.n_vocab, PENALTY_LAST_N, self.repeat_penalty, 0.0, 0.0
        )
        L.llama_sampler_chain_add(chain, penalties)
        if self.temperature == 0.0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
            return chain
        # llama-cpp-python's defaults for a chat completion
        for stage in (
            L.llama_sampler_init_top_k(40),
            L.llama_sampler_init_typical(1.0, 1),
            L.llama_sampler_init_top_p(0.95, 1),
            L.llama_sampler_init_min_p(0.05, 1),
            L.llama_sampler_init_temp(self.temperature),
            L.llama_sampler_init_dist(L.LLAMA_DEFAULT_SEED),
        ):
            L.llama_sampler_chain_add(chain, stage)
        return chain

    # -- the callers' side ----------------------------------------------------------
    def submit(self, seq: Sequence) -> None:
        if len(seq.tokens) >= self.context_size:
            raise ValueError(
                f"the prompt has {len(seq.tokens)} tokens, more than the context "
                f"({self.context_size})"
            )
        seq.max_tokens = min(seq.max_tokens, self.context_size - len(seq.tokens))
        with self.cond:
            if self.closing:
                raise RuntimeError("the model is closing")
            self.waiting.append(seq)
            self.cond.notify_all()

    def forget(self, timeout_s: float = 60.0) -> None:
        """Drop every slot's KV cells once no answer is running (on the engine's thread):
        what a probe decoded is not kept as a prefix for the answers that follow."""

        def drop() -> None:
            for slot in range(self.parallel):
                self.L.llama_memory_seq_rm(self.mem, slot, -1, -1)
            self.cache = [[] for _ in range(self.parallel)]

        self.call(drop, timeout_s)

    def call(self, fn: Callable[[], T], timeout_s: float = 600.0) -> T:
        """``fn()`` run on the engine's thread once no answer is running, and its result.
        Whatever computes with llama.cpp in this process does it there: its OpenMP keeps a
        pool of threads per calling thread, and with two pools on 2 cores neither spins
        between steps (decoding fell to 0.4x of its rate after one prompt was read on
        another thread)."""
        future: Future[T] = Future()
        with self.cond:
            if self.closing:
                raise RuntimeError("the model is closing")
            self._tasks.append((fn, future))
            self.cond.notify_all()
        return future.result(timeout_s)

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.thread.join()
        L = self.L
        for s in self.samplers:
            L.llama_sampler_free(s)
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)

    # -- the engine's thread --------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self.cond:
                while not (self.closing or self.waiting or any(self.running) or self._tasks):
                    self.cond.wait()
                if self.closing:
                    for seq in [*self.waiting, *filter(None, self.running)]:
                        seq.events.put(("fail", "the model is closing"))
                    for _, future in self._tasks:
                        future.set_exception(RuntimeError("the model is closing"))
                    return
                idle = not self.waiting and not any(self.running)
                tasks, self._tasks = (self._tasks, []) if idle else ([], self._tasks)
            if tasks:  # no answer runs: the callers' work, in order
                for fn, future in tasks:
                    try:
                        future.set_result(fn())
                    except Exception as exc:
                        future.set_exception(exc)
                continue
            try:
                with self.cond:
                    self._admit()
                self._step()
            except Exception as exc:  # a step failed: its answers fail, the engine goes on
                for i, running in enumerate(self.running):
                    if running is not None:
                        self._finish(i, ("fail", f"{type(exc).__name__}: {exc}"), keep=False)

    def _admit(self) -> None:
        """Waiting sequences take free slots, in arrival order, each reusing the longest
        prefix of its prompt that any slot's KV cells hold."""
        L = self.L
        while self.waiting and None in self.running:
            seq = self.waiting.pop(0)
            if seq.cancel.is_set():
                seq.events.put(("end", None))
                continue
            free = [i for i, s in enumerate(self.running) if s is None]
            shared = [common_prefix(c, seq.tokens) for c in self.cache]
            slot = max(free, key=lambda i: (shared[i], -self.used[i]))
            self.running[slot] = seq  # from here on, an error fails it with the others
            source = max(range(self.parallel), key=lambda i: shared[i])
            keep = min(shared[source], len(seq.tokens) - 1)  # one token left: its logits
            if shared[source] > shared[slot]:
                L.llama_memory_seq_rm(self.mem, slot, -1, -1)
                L.llama_memory_seq_cp(self.mem, source, slot, 0, keep)
            elif not L.llama_memory_seq_rm(self.mem, slot, keep, -1):
                L.llama_memory_seq_rm(self.mem, slot, -1, -1)
                keep = 0
            self.cache[slot] = seq.tokens[:keep]
            self.steps += 1
            self.used[slot] = self.steps
            L.llama_sampler_reset(self.samplers[slot])
            seq.slot, seq.n_past, seq.reused = slot, keep, keep

    def _add(self, token: int, pos: int, slot: int, logits: bool) -> int:
        b = self.batch
        i = b.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = slot
        b.n_tokens = i + 1
        self.added[slot] += 1
        return i

    def _step(self) -> None:
        """One llama_decode: the next token of every answer being written, then as much
        of the prompts being read as the batch holds; then sample where logits came."""
        L = self.L
        # a reader gone frees its slot first, so the prompt after it runs alone (a cancel
        # that comes later, during this step, is seen at the next one)
        for i, seq in enumerate(self.running):
            if seq is not None and seq.cancel.is_set():
                self._finish(i, ("end", None))
        self._split()
        self.batch.n_tokens = 0
        self.added = [0] * self.parallel
        out: list[tuple[int, int]] = []  # (slot, index in the batch) sampled after decode
        for i, seq in enumerate(self.running):
            if seq is not None and seq.last >= 0:
                out.append((i, self._add(seq.last, seq.n_past, i, True)))
        room = self.batch_size - self.batch.n_tokens
        if out:  # others are writing: a prompt is read in short chunks between their tokens
            room = min(room, PREFILL_CHUNK)
        for i, seq in enumerate(self.running):
            if seq is None or seq.last >= 0 or room <= 0:
                continue
            chunk = seq.tokens[seq.n_past : seq.n_past + room]
            for k, token in enumerate(chunk):
                final = seq.n_past + k == len(seq.tokens) - 1
                idx = self._add(token, seq.n_past + k, i, final)
                if final:
                    out.append((i, idx))
            room -= len(chunk)
        if self.batch.n_tokens == 0:
            return
        code = L.llama_decode(self.ctx, self.batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        for i, seq in enumerate(self.running):  # what was evaluated is in the cache now
            if seq is None:
                continue
            if seq.last >= 0:
                seq.tokens.append(seq.last)
            seq.n_past += self.added[i]
            self.cache[i] = seq.tokens[: seq.n_past]
        for slot, idx in out:
            self._sample(slot, idx)

    def _split(self) -> None:
        """The prompt of an answer running alone is read by the plain context (``prefill``,
        models/prefill.py), whose KV cells are then copied into its slot: where that
        context reads faster, the first token comes sooner. With others being written, a
        prompt is read in chunks between their steps instead, not holding them back."""
        busy = [(i, s) for i, s in enumerate(self.running) if s is not None]
        if self.prefill is None or len(busy) != 1 or busy[0][1].last >= 0:
            return
        slot, seq = busy[0]
        target = seq.tokens[:-1]  # the last one is read here: its logits are sampled
        if len(target) - seq.n_past < MIN_TOKENS:
            return
        self.L.llama_memory_seq_rm(self.mem, slot, -1, -1)
        reused = self.prefill.copy_to_seq(self.ctx, slot, target)
        if reused < 0:  # refused: the slot's cells are in doubt, it reads the prompt here
            self.L.llama_memory_seq_rm(self.mem, slot, -1, -1)
            self.prefill.fallbacks += 1
            seq.n_past = seq.reused = 0
        else:
            self.prefill.used += 1
            seq.n_past, seq.reused = len(target), reused
        self.cache[slot] = seq.tokens[: seq.n_past]

    def _sample(self, slot: int, idx: int) -> None:
        seq = self.running[slot]
        assert seq is not None
        L = self.L
        if seq.last < 0:
            seq.events.put(("usage", (len(seq.tokens), seq.reused)))
        token = L.llama_sampler_sample(self.samplers[slot], self.ctx, idx)
        if L.llama_vocab_is_eog(self.vocab, token):
            self._finish(slot, ("end", None))
            return
        seq.generated += 1
        seq.last = token
        text = seq.decoder.decode(self._piece(token))
        if text:
            seq.events.put(("piece", text))
        if seq.generated >= seq.max_tokens:
            self._finish(slot, ("end", None))

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _finish(self, slot: int, event: tuple[str, Any], *, keep: bool = True) -> None:
        seq = self.running[slot]
        assert seq is not None
        self.running[slot] = None
        if event[0] == "end":
            tail = seq.decoder.decode(b"", final=True)
            if tail:
                seq.events.put(("piece", tail))
        if not keep:  # the cells' state is unknown after a failed step
            self.L.llama_memory_seq_rm(self.mem, slot, -1, -1)
            self.cache[slot] = []
        seq.events.put(event)
