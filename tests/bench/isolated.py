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

Batched decoding also runs in a child on every CPU, started with the model worker's
environment (``huge_pages_env``): the worker serves that engine with its weights on
transparent huge pages, and glibc reads the tunable only when a process starts.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from unittest.mock import patch

from assistant.models.cpu import describe_cpu
from assistant.models.worker import huge_pages_env
from tests.bench.core import Context, Section

#: areas that load llama.cpp in their own process in the worker's CPU mode
LLAMA_IN_PROCESS = frozenset({"generation", "worker", "batched_decode"})
#: areas whose engine the worker serves with huge pages: run in a child started so
WORKER_ENV = frozenset({"batched_decode"})


def needs_child(key: str) -> bool:
    return key in WORKER_ENV or (key in LLAMA_IN_PROCESS and bool(describe_cpu()["amx"]))


def _run_as_worker(key: str, ctx: Context) -> Section:
    from tests.bench.run import run_area

    if key in LLAMA_IN_PROCESS and describe_cpu()["amx"]:
        from assistant.models.amx import deny_amx

        deny_amx()
        os.environ.setdefault("ASSISTANT_MODEL_CPU_MODE", "no-amx")
    return run_area(key, ctx)


def run_in_child(key: str, ctx: Context) -> Section:
    spawn = multiprocessing.get_context("spawn")
    env = huge_pages_env() if key in WORKER_ENV else {}
    try:  # the child is started at submit, with this environment
        with patch.dict(os.environ, env), ProcessPoolExecutor(1, mp_context=spawn) as pool:
            return pool.submit(_run_as_worker, key, ctx).result()
    except Exception as exc:  # the child died (a native crash): the other areas go on
        return Section(key=key, title=key, error=f"child process: {type(exc).__name__}: {exc}")
