"""Prompts read by a second, plain llama.cpp context; answers decoded by the repacked one.

llama.cpp's extra buffer types repack Q4_K weights into 8x8 blocks. On the AVX-512
EPYC (zen4 kernels, 2 threads) that layout decodes faster and reads a prompt slower
than the plain one: qwen2.5-1.5b read 140 new tokens after a 500-token cached prefix
in 1.50 s repacked and 1.09 s plain, and decoded 30.5 against 24.4 tok/s. Both are
kept: the model is loaded a second time without extra buffer types (the file's pages
are shared; its own KV cache and buffers cost ~0.2 GB), that context reads all but the
prompt's last token, its KV cache for the sequence is copied into the decoding context
(``llama_state_seq_get_data``/``set_data``: ~16 MB and ~10 ms for 560 tokens), and the
decoding context reads the last token itself, so its logits are where the sampler looks.

Whether it pays is measured, not assumed (:func:`probe_split`): the worker's start-up
probe reads a prompt shaped like a question's -- ``PROBE_NEW`` new tokens after a cached
``PROBE_PREFIX``, the system prompt's place -- once in the decoding context and once the
split way, the plain read, the copy and the last token together, and keeps the split where
it is clearly faster (:func:`faster`). It used to time 64 tokens from an empty cache, the
copy left out, against a margin of 0.85: on the Intel Xeon with AMX (qwen2.5-1.5b, quiet,
6 interleaved rounds) that ratio scattered 0.78-0.89 across the threshold, the whole split
0.78-0.85 of the repacked read, and the server's own time to first token was 0.80x with
the split (docs/BENCHMARKS.md); 4 of 22 starts in a day did not split. The worker keeps its
first start's choice (models/remembered.py), so this measurement is taken once per
machine, and can afford the longer read. A copy that fails falls back to reading the
prompt in the decoding context.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from typing import Any, Literal

#: The setting (``split_prefill``): "auto" keeps the split where the probe times it faster.
SplitPrefill = Literal["auto", "on", "off"]

#: Fewer new tokens than this are read by the decoding context itself: the copy and
#: the extra last-token step would cost more than a slower read of a few tokens saves.
MIN_TOKENS = 16
#: The start-up probe's prompt: this many tokens cached (a system prompt's place) ...
PROBE_PREFIX = 256
#: ... then this many new ones read, in each context (the better of two rounds each).
PROBE_NEW = 128
#: The context the probe needs (the batched generator opens one that small for it).
PROBE_CONTEXT = PROBE_PREFIX + PROBE_NEW + 64
#: The split, copy and last token included, must take at most this share of the repacked
#: read's time to be kept: a margin for the scatter of two timings of about a second.
KEEP_BELOW = 0.92


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PlainPrefill:
    """The plain context (a ``llama_cpp.Llama`` loaded with ``use_extra_bufts`` off) and
    the copy of its KV cache into a decoding ``Llama``'s (:meth:`attach`)."""

    def __init__(self, plain: Any) -> None:
        self.plain = plain
        self._buf = bytearray()
        #: prompts read here, and the ones that fell back (a failed copy)
        self.used = 0
        self.fallbacks = 0

    def attach(self, llm: Any) -> None:
        """Route ``llm``'s prompt reads (its ``eval`` of MIN_TOKENS or more) through here."""
        own = llm.eval

        def eval(tokens: Sequence[int]) -> None:
            if len(tokens) < MIN_TOKENS:
                return own(tokens)
            target = [int(t) for t in llm.input_ids[: llm.n_tokens]] + list(tokens[:-1])
            if self.copy_into(llm, target):
                self.used += 1
                llm.input_ids[: len(target)] = target
                llm.n_tokens = len(target)
                return own(tokens[-1:])
            self.fallbacks += 1  # copy_into emptied the decoding context: read it all
            return own([*target, tokens[-1]])

        llm.eval = eval

    def read(self, target: Sequence[int]) -> int:
        """Bring the plain context to exactly ``target``, reusing the prefix it holds
        (returned: how many of ``target``'s tokens were not read again)."""
        p = self.plain
        same = common_prefix([int(t) for t in p.input_ids[: p.n_tokens]], list(target))
        p.n_tokens = same
        if same < len(target):
            p.eval(target[same:])
        else:  # the whole target is held: drop whatever follows it
            p._ctx.kv_cache_seq_rm(-1, same, -1)
        return same

    def copy_into(self, llm: Any, target: Sequence[int]) -> bool:
        """Read ``target`` here and copy the sequence's KV cache into ``llm``'s context."""
        if self.copy_to_seq(llm._ctx.ctx, 0, target) >= 0:
            return True
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)  # the decoding context's cache is in doubt:
        llm.n_tokens = 0  # it reads everything again
        return False

    def copy_to_seq(self, ctx: Any, seq_id: int, target: Sequence[int]) -> int:
        """Read ``target`` here and copy the sequence's KV cells into sequence ``seq_id`` of
        the llama.cpp context ``ctx`` (whose cells of that sequence must be empty): the
        tokens reused from this context's own cache, or -1 when ``ctx`` refused the copy."""
        import llama_cpp

        reused = self.read(target)
        src = self.plain._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(src, 0)
        if len(self._buf) < size:
            self._buf = bytearray(size)
        buf = (ctypes.c_uint8 * size).from_buffer(self._buf)
        got = llama_cpp.llama_state_seq_get_data(src, buf, size, 0)
        ok = bool(got) and llama_cpp.llama_state_seq_set_data(ctx, buf, got, seq_id) == got
        return reused if ok else -1


def _clear(llm: Any) -> None:
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)


def probe_split(llm: Any, plain: Any, tokens: Sequence[int], rounds: int = 2) -> dict[str, Any]:
    """Time ``tokens[PROBE_PREFIX:]`` read after a cached ``tokens[:PROBE_PREFIX]``: in the
    decoding context ``llm``, and the split way (``plain`` reads them, the sequence is
    copied into ``llm``, which reads the last token); the better of ``rounds`` each, both
    contexts emptied after. ``split`` says whether to keep it (:func:`faster`)."""
    prefix, new = list(tokens[:PROBE_PREFIX]), list(tokens[PROBE_PREFIX:])
    reader = PlainPrefill(plain)
    split_s = repacked_s = float("inf")
    for _ in range(rounds):
        _clear(llm)
        llm.eval(prefix)
        started = time.perf_counter()
        llm.eval(new)
        repacked_s = min(repacked_s, time.perf_counter() - started)
        _clear(llm)
        _clear(plain)
        plain.eval(prefix)
        target = [*prefix, *new[:-1]]
        started = time.perf_counter()
        if reader.copy_to_seq(llm._ctx.ctx, 0, target) < 0:
            split_s = float("inf")  # refused: the split cannot run here
            break
        llm.input_ids[: len(target)] = target
        llm.n_tokens = len(target)
        llm.eval(new[-1:])
        split_s = min(split_s, time.perf_counter() - started)
    _clear(llm)
    _clear(plain)
    return {
        "split": faster(split_s, repacked_s),
        "tokens": len(new),
        "after": len(prefix),
        "split_s": round(split_s, 3) if split_s != float("inf") else None,
        "repacked_s": round(repacked_s, 3),
    }


def faster(split_s: float, repacked_s: float) -> bool:
    """Whether the split reads a prompt clearly faster than the decoding context alone."""
    return split_s <= KEEP_BELOW * repacked_s
