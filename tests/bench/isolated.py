"""Run one benchmark area in a child process that refused Intel AMX first.

The areas that load llama.cpp in the bench process itself (raw runs beside the server,
the in-process generator, batched decoding) must do it in the mode the model's worker
runs in. On an AMX CPU that is ``no-amx``: the worker's seccomp filter
(assistant/models/amx.py), without which the extra buffer types crash the process
(issue 7). The filter cannot be lifted, and the embedders (ONNX Runtime's int8 kernels
use AMX where the kernel grants it) must keep AMX in the areas that measure them, as
they have it in the server. So those areas run in a spawned child that installs the
filter first, and their section comes back pickled. The filter is inherited by the
processes the child starts, so there the worker's probe of ``extra`` would pass for the
wrong reason (AMX already refused) and name the wrong mode: the child sets the mode the
server's probe picks on such a CPU, ``no-amx`` (``extra`` dies there; see
``assistant models verify``), unless ASSISTANT_MODEL_CPU_MODE says otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from assistant.models.cpu import describe_cpu
from tests.bench.core import Context, Section

#: areas that load llama.cpp in their own process in the worker's CPU mode
LLAMA_IN_PROCESS = frozenset({"generation", "worker", "batched_decode"})


def needs_child(key: str) -> bool:
    return key in LLAMA_IN_PROCESS and bool(describe_cpu()["amx"])


def _run_without_amx(key: str, ctx: Context) -> Section:
    from assistant.models.amx import deny_amx
    from tests.bench.run import run_area

    deny_amx()
    os.environ.setdefault("ASSISTANT_MODEL_CPU_MODE", "no-amx")
    return run_area(key, ctx)


def run_in_child(key: str, ctx: Context) -> Section:
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            return pool.submit(_run_without_amx, key, ctx).result()
    except Exception as exc:  # the child died (a native crash): the other areas go on
        return Section(key=key, title=key, error=f"child process: {type(exc).__name__}: {exc}")
