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

Whether it pays is measured, not assumed (:func:`faster`): the worker's start-up probe
times one batch in each context and keeps the split only where the plain one is clearly
faster. A copy that fails falls back to reading the prompt in the decoding context.
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
#: The batch the start-up probe times in each context (twice: the first warms it up).
PROBE_TOKENS = 64
#: The plain context must read a batch in at most this share of the repacked one's time
#: for the split to be kept (the probe's two timings are a few hundred ms each).
KEEP_BELOW = 0.85


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


def batch_seconds(llm: Any, tokens: Sequence[int], rounds: int = 2) -> float:
    """The fastest of ``rounds`` reads of ``tokens`` from an empty cache in ``llm``."""
    best = float("inf")
    for _ in range(rounds):
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        started = time.perf_counter()
        llm.eval(tokens)
        best = min(best, time.perf_counter() - started)
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    return best


def faster(plain_s: float, repacked_s: float) -> bool:
    """Whether the plain context reads a batch clearly faster than the repacked one."""
    return plain_s <= KEEP_BELOW * repacked_s
