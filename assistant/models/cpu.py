"""How llama.cpp may use this CPU: the modes, the order they are tried in, and the machine.

- ``extra``: llama.cpp's extra buffer types on: weights repacked for AVX2/AVX-512
  kernels and, on CPUs with AMX, the AMX buffer type. Fastest where it runs.
- ``no-amx``: the same, with AMX refused to the worker process by a seccomp filter
  (models/amx.py), so the repacked kernels stay. Only differs from ``extra`` on
  CPUs with AMX, where llama-cpp-python 0.3.36 segfaults in its AMX matmul.
- ``plain``: no extra buffer types (``use_extra_bufts=False``): every CPU, slowest.

``auto`` decides by measurement, not by reading the CPU's flags: the worker loads
the model in the first mode and reads a short batch (models/llama.py ``probe``); a
mode that crashes there is dropped for the next. The flags below are only reported.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Literal, TypedDict

CpuMode = Literal["extra", "no-amx", "plain"]
CpuModeSetting = Literal["auto", "extra", "no-amx", "plain"]
CPU_MODES: tuple[CpuMode, ...] = ("extra", "no-amx", "plain")

#: The flags that decide which llama.cpp kernels can run, as /proc/cpuinfo spells them.
FLAGS_OF_INTEREST = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


class CpuInfo(TypedDict):
    model: str
    flags: list[str]
    amx: bool


def uses_extra_buffers(mode: CpuMode) -> bool:
    return mode != "plain"


def mode_ladder(setting: CpuModeSetting, *, has_amx: bool | None = None) -> list[CpuMode]:
    """The modes to try, best first. A forced mode is the only one. ``no-amx`` is left
    out where the CPU has no AMX: there it is ``extra`` again."""
    if setting != "auto":
        return [setting]
    amx = describe_cpu()["amx"] if has_amx is None else has_amx
    return [m for m in CPU_MODES if m != "no-amx" or amx]


def describe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """The CPU's model name and the flags of interest it has (for reports, not decisions)."""
    name, flags = platform.processor() or platform.machine(), set[str]()
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            name = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    present = [f for f in FLAGS_OF_INTEREST if f in flags]
    return {"model": name, "flags": present, "amx": "amx_int8" in flags or "amx_tile" in flags}
