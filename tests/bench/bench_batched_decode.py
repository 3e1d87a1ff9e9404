"""Benchmark area ``batched_decode``: aggregate decode rate with 1, 2 and 4 answers
decoded together by one model (continuous batching, assistant/models/batching.py).

Each round submits B sequences at once to one engine (``parallel`` = 4), each with
the same system prompt and its own question, and times the window in which all B
are decoding (after the last one read its prompt, until the first one ends). The
figure is tokens written by all B in that window ÷ its length (wall clock), with
the same per CPU-second of this process beside it: the machine is shared, and CPU
time says what a step costs whatever share of the cores the process got. Rounds
interleave B = 1, 2, 4 so drift hits all alike; ratios are to B = 1 of the same run.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from assistant.models.auto_parallel import decode_stamps
from assistant.models.batched import BatchedLlamaGenerator
from assistant.models.batching import Sequence
from assistant.models.catalog import get_spec
from assistant.models.cpu import CpuMode, describe_cpu
from assistant.models.install import installed_path
from assistant.models.worker import huge_pages_mb
from tests.bench.bench_generation import _models_dir
from tests.bench.core import Context, Figure, Section, Target

MODELS = ["qwen2.5-1.5b", "qwen2.5-0.5b"]
WIDTHS = (1, 2, 4)
ROUNDS = 2
DECODE_TOKENS = 40
#: The product's default (``threads``: the core count). One thread, used while the box was
#: shared with a running eval (two threads then wait on each other), hides the gain: one
#: thread is compute-bound on both CPUs (AVX-512 EPYC, quiet: 1.03x for 4 answers).
THREADS = os.cpu_count() or 1
SYSTEM = "You answer questions about company documents. Cite the passages you use."
QUESTIONS = [
    "List the numbers from 1 to 60, separated by commas.",
    "Write the English alphabet, one letter per line.",
    "List the months of the year and the number of days in each.",
    "Count down from 50 to 1, separated by spaces.",
]


def _round(gen: BatchedLlamaGenerator, width: int) -> tuple[float, float]:
    """(aggregate decode tok/s, tok per CPU-second) of ``width`` answers decoded together."""
    engine = gen.load()
    seqs = []
    for q in QUESTIONS[:width]:
        prompt = gen.prompt_tokens([{"role": "system", "content": SYSTEM},
                                    {"role": "user", "content": q}])  # fmt: skip
        seqs.append(Sequence(prompt, DECODE_TOKENS))
    stamps = decode_stamps(engine, seqs)  # (wall, cpu) per piece
    start = max(s[0][0] for s in stamps)
    stop = min(s[-1][0] for s in stamps)
    inside = [p for s in stamps for p in s if start < p[0] <= stop]
    cpu0 = min(p[1] for s in stamps for p in s if p[0] >= start)
    cpu1 = max(p[1] for p in inside)
    return len(inside) / (stop - start), len(inside) / max(cpu1 - cpu0, 1e-9)


def _mode() -> CpuMode:
    """The product's mode on this CPU: on an AMX CPU this area runs in a child process
    that refused AMX first, as the worker's no-amx mode does (tests/bench/isolated.py)."""
    return "no-amx" if describe_cpu()["amx"] else "extra"


def _model(ctx: Context, section: Section, name: str) -> int | None:
    spec = get_spec(name)
    path = installed_path(spec, _models_dir(ctx))
    gen = BatchedLlamaGenerator(path, name=name, sha256=spec.files[0].sha256, parallel=4,
                                context_size=2048, threads=THREADS, flash_attn=True,
                                cpu_mode=_mode())  # fmt: skip
    wall: dict[int, list[float]] = {w: [] for w in WIDTHS}
    cpu: dict[int, list[float]] = {w: [] for w in WIDTHS}
    try:
        gen.probe()
        huge = huge_pages_mb()  # the weights are in memory by now
        _round(gen, 1)  # warm-up: the system prompt is in the cache from here on
        for r in range(1 if ctx.quick else ROUNDS):
            for width in WIDTHS:
                rate, per_cpu = _round(gen, width)
                ctx.log(f"batched_decode: {name} round {r + 1} B={width}: {rate:.2f} tok/s, "
                        f"{per_cpu:.2f} tok/cpu-s")  # fmt: skip
                wall[width].append(rate)
                cpu[width].append(per_cpu)
    finally:
        gen.close()
    base_wall, base_cpu = statistics.median(wall[1]), statistics.median(cpu[1])
    for width in WIDTHS:
        target: list[Target] = []
        if width == 4:
            target = [Target(2.5, on="ratio", text="ratio ≥ 2.5 (issue 16)")]
        section.add(Figure(f"decode, {width} at once — {name}", "tok/s", wall[width],
                           anchor=base_wall, anchor_label="1 at once, same run",
                           targets=target))  # fmt: skip
        section.add(Figure(f"decode per CPU-second, {width} at once — {name}", "tok/cpu-s",
                           cpu[width], anchor=base_cpu,
                           anchor_label="1 at once, same run"))  # fmt: skip
    return huge


def run(ctx: Context) -> Section:
    section = Section(key="batched_decode", title="Several answers decoded together")
    models = ["smollm2-135m"] if ctx.quick else MODELS
    huge = {name: _model(ctx, section, name) for name in models}
    note: dict[str, Any] = {"threads": THREADS, "tokens": DECODE_TOKENS}
    section.notes.append(
        f"One context with parallel = 4 (unified KV cache), {note['threads']} llama.cpp "
        "thread(s), "
        f"flash attention, up to {note['tokens']} tokens per answer, greedy; "
        f"{ROUNDS} rounds of B = 1, 2, 4 interleaved. Aggregate = tokens of all B answers ÷ "
        "the time all B were decoding; per CPU-second = the same tokens ÷ this process's CPU "
        "time (the machine is shared: a ratio of CPU time is what a step costs)."
    )
    section.notes.append(
        "Run as the model worker serves this engine: in a process started with "
        f"ASSISTANT_MODEL_HUGE_PAGES' environment ({os.environ.get('GLIBC_TUNABLES') or 'none'}"
        "; tests/bench/isolated.py), memory on transparent huge pages after loading: "
        + ", ".join(f"{n} {mb if mb is not None else '?'} MiB" for n, mb in huge.items())
        + ". Huge pages speed one answer's decode (its weight reads), not a step of 4, which "
        "computes: on the Intel Xeon with AMX (2026-12-07, quiet, qwen2.5-1.5b, 3 rounds) 1 / 2 "
        "/ 4 at once gave 14.6 / 19.4 / 36.5 tok/s without them (2.50x) and 17.2 / 21.9 / "
        "36.9 with them (2.14x); 8 at once (parallel = 8) 40.0, 1.09x of 4."
    )
    section.notes.append(
        f"This run's CPU: {ctx.machine.cpu_model} ({', '.join(ctx.machine.flags)}). On the "
        "AVX-512 EPYC (zen4 kernels), quiet, the same rounds with 1 thread gave qwen2.5-1.5b "
        "20.5 / 20.1 / 21.1 tok/s for 1 / 2 / 4 answers (1.03x; 2 threads 1.35-1.45x). A step "
        "of 4 answers still costs ~2.8x a step of 1: on 2 cores the Q4_K matrix products, not "
        "the weight reads, bound a step."
    )
    section.notes.append(
        "On the AVX2 EPYC (2026-12-06 03:11, shared with an eval, 1 thread): 0.99x (1.5b) and "
        "1.41x (0.5b). A decode step of B sequences costs B times the int8 multiply-adds, and "
        "there those, not reading the weights, bound a step: one thread decoded qwen2.5-1.5b "
        "at ~5.5 tok per CPU-second, ~6 GB/s of weights, half the 12.4 GB/s one thread can "
        "read. Batching saves only the reads. The same with the weights requantised to Q4_0 "
        "(repacked 8x8 AVX2 kernels; 5.5 -> 6.0 tok/cpu-s) and without extra buffer types "
        "(5.2 -> 6.6). n_ubatch, kv_unified and n_seq_max do not enter a 4-token step. There 4 "
        "at once make each answer ~3x slower for ~1.0-1.4x more tokens in all, so "
        "`PARALLEL=auto` (the default) keeps one answer at a time on such a CPU. It pays "
        "where decode is bandwidth-bound (more cores per memory channel, AMX, bigger models)."
    )
    section.notes.append(
        "On the Intel Xeon with AMX (2026-12-07, quiet, 2 threads, CPU mode no-amx: the "
        "sapphirerapids backend's AVX-512 VNNI kernels, AMX refused): qwen2.5-1.5b 14.8 / "
        "19.3 / 35.9 tok/s for 1 / 2 / 4 answers (2.43x), qwen2.5-0.5b 28.5 / 45.0 / 71.1 "
        "(2.50x): a step of 4 costs ~1.6x a step of 1 there, so 4 at once gives each answer "
        "~0.6x of its lone speed for 2.4x the tokens in all. `PARALLEL=auto` (the default; "
        "assistant/models/auto_parallel.py) times this at the worker's start and keeps 4 at "
        "once here (the load area's default run names the gain it measured), 1 on the EPYCs."
    )
    return section
