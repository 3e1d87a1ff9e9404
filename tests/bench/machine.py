"""The machine a benchmark ran on: CPU, cores, RAM and measured memory bandwidth.

Figures only mean something next to the hardware that produced them; the
bandwidth is also the physical limit for LLM decoding (each token reads all
weights once), so it is measured, not looked up.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil

from assistant.models.cpu import describe_cpu


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    ram_bytes: int
    flags: tuple[str, ...]
    bandwidth_gbs: float  # best copy bandwidth (read + written bytes per second), any thread count
    bandwidth_all_gbs: float  # with one thread per core
    bandwidth_1t_gbs: float  # with one thread
    python: str
    read_gbs: float = 0.0  # best read-only sweep (bytes read per second): the decode ceiling
    read_1t_gbs: float = 0.0  # the same with one thread

    def label(self) -> str:
        """The CPU in a few words, for a section's line: its model and best vector unit."""
        unit = next(
            (u for f, u in (("amx_int8", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))
             if f in self.flags),
            "no AVX2",
        )  # fmt: skip
        return f"{self.cpu_model} with {unit}"

    def describe(self) -> list[str]:
        gib = self.ram_bytes / 2**30
        return [
            f"- CPU: {self.cpu_model}, {self.cores} cores"
            + (f" ({', '.join(self.flags)})" if self.flags else ""),
            f"- RAM: {gib:.1f} GiB",
            f"- Memory bandwidth, measured (numpy copy of 512 MiB, bytes read + written, "
            f"best of 5): **{self.bandwidth_gbs:.1f} GB/s** "
            f"({self.bandwidth_all_gbs:.1f} with {self.cores} threads, "
            f"{self.bandwidth_1t_gbs:.1f} with one)",
            f"- Memory read bandwidth, measured (read-only sweep of 1 GiB, best of 5): "
            f"**{self.read_gbs:.1f} GB/s** ({self.read_1t_gbs:.1f} with one thread); "
            "this is what LLM decoding does with the weights, so it sets the decode ceiling",
            f"- Python {self.python}, {platform.system()} {platform.release()}",
        ]


def cpu_model() -> str:
    return describe_cpu()["model"]


def cpu_flags() -> tuple[str, ...]:
    """The CPU's AVX2/AVX-512/AMX flags (assistant/models/cpu.py: the ones llama.cpp uses)."""
    return tuple(describe_cpu()["flags"])


def copy_bandwidth(threads: int, *, mib: int = 512, repeats: int = 5) -> float:
    """GB/s of ``np.copyto`` over ``mib`` MiB split across ``threads`` (numpy frees the GIL).

    Counts bytes read plus bytes written (the STREAM "copy" convention); best of
    ``repeats``, as STREAM reports, since other load only ever lowers it.
    """
    n = mib * 2**20 // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page first
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)

    def part(i: int) -> None:
        np.copyto(dst[bounds[i] : bounds[i + 1]], src[bounds[i] : bounds[i + 1]])

    return _best_gbs(part, threads, repeats, 2 * src.nbytes)


def read_bandwidth(threads: int, *, mib: int = 1024, repeats: int = 5) -> float:
    """GB/s of a read-only sweep (``max`` over int64) of ``mib`` MiB split across ``threads``.

    Decoding one token streams every weight through the cores once and writes next
    to nothing, so the bytes *read* per second bound it, not a copy's read + write
    traffic (a copy's write stream and its read-for-ownership skew the figure either
    way). ``max`` is the cheapest reduction numpy vectorises, so the sweep stays memory
    bound; a float32 BLAS GEMV was tried and stays well below what llama.cpp itself
    reaches (OpenBLAS's sgemv is compute bound on two cores), so it is no ceiling.
    1 GiB is far past any cache. Best of ``repeats``: other load only ever lowers it.
    """
    n = mib * 2**20 // 8
    src = np.ones(n, dtype=np.int64)
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)

    def part(i: int) -> None:
        src[bounds[i] : bounds[i + 1]].max()

    return _best_gbs(part, threads, repeats, src.nbytes)


def probe() -> Machine:
    cores = os.cpu_count() or 1
    all_cores, one = copy_bandwidth(cores), copy_bandwidth(1)
    read_all, read_one = read_bandwidth(cores), read_bandwidth(1)
    return Machine(
        cpu_model=cpu_model(),
        cores=cores,
        ram_bytes=psutil.virtual_memory().total,
        flags=cpu_flags(),
        bandwidth_gbs=max(all_cores, one),
        bandwidth_all_gbs=all_cores,
        bandwidth_1t_gbs=one,
        python=platform.python_version(),
        read_gbs=max(read_all, read_one),
        read_1t_gbs=read_one,
    )


def _best_gbs(part: Callable[[int], None], threads: int, repeats: int, nbytes: int) -> float:
    """Best GB/s over ``repeats`` runs of ``part(i)`` on ``threads`` threads moving ``nbytes``."""
    rates: list[float] = []
    for _ in range(repeats):
        workers = [threading.Thread(target=part, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rates.append(nbytes / (time.perf_counter() - started) / 1e9)
    return max(rates)
