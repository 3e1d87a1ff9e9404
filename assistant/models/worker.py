"""The model's worker process: one generator, driven over a socket pair.

Started by models/supervisor.py as ``python -m assistant.models.worker FD``
(assistant/workers.py). The start-up message is a :class:`WorkerSpec`; the worker
refuses AMX first if its CPU mode says so, checks the weights' hash when the file
changed since the parent verified it, builds the generator, probes it (a batch
read: where a CPU mode crashes, it crashes here) and answers ``("ready", info)``.

Then requests, each with an id ``rid`` so that several answers stream at once (as
many as the generator's ``capacity``: the parent keeps to it):

- ``("stream", rid, messages, max_tokens)``: ``("usage", rid, (prompt, reused))`` once
  the prompt is read, ``("piece", rid, text)`` per piece, then ``("end", rid, None)``,
  or ``("fail", rid, reason)`` for an error it survived. A ``("cancel", rid)`` sent
  meanwhile stops that answer at its next piece (it still ends with ``("end", rid, None)``);
  one that arrives after its answer ended is stale and ignored.
- ``("tokens", rid, text)``: ``("ok", rid, count)`` by the model's tokenizer.
- ``None`` or a closed socket: exit.

A reader thread takes the requests, so a cancel is read while answers stream. The
answers of a generator of capacity 1 (models/llama.py) run one after another on the main
thread, the one that loaded and probed the model: llama.cpp's OpenMP keeps a pool of
threads per thread that computes, and once two such pools live in a process on 2 cores,
libgomp counts more threads than cores and stops spinning between steps. Decoding from
a second thread ran at 0.74x (docs/BENCHMARKS.md, area ``worker``). A batched generator
(capacity > 1) computes on its own engine thread only, so its answers, and the token
counts of both, run on threads of their own.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import threading
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from assistant import workers
from assistant.models.cpu import CpuMode

LLAMA_FACTORY = "assistant.models.llama:LlamaGenerator"
#: the model decoding ``parallel`` answers together (models/batched.py)
BATCHED_FACTORY = "assistant.models.batched:BatchedLlamaGenerator"
#: either, as the worker's start-up timing decides (``PARALLEL=auto``)
AUTO_FACTORY = "assistant.models.auto_parallel:AutoParallelGenerator"


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker runs. ``factory`` ("module:name") is called with ``cpu_mode``
    and ``kwargs``; tests run deterministic generators through the same process."""

    name: str
    sha256: str | None
    cpu_mode: CpuMode
    factory: str = LLAMA_FACTORY
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: (path, size, mtime_ns) of the weights as the parent verified them: a file changed
    #: since is hashed again here, before llama.cpp reads a byte of it.
    verified: tuple[str, int, int] | None = None
    #: environment variables the worker process starts with (:func:`huge_pages_env`)
    env: dict[str, str] = field(default_factory=dict)

    def with_mode(self, mode: CpuMode) -> WorkerSpec:
        return replace(self, cpu_mode=mode)


def huge_pages_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """Ask glibc (2.35 and later) to put the blocks malloc maps on transparent huge pages.

    llama.cpp repacks the weights into memory it allocates (about 1 GB for qwen2.5-1.5b),
    and decoding reads all of it per token; on 4 KiB pages that walks the page tables on
    every read. With ``glibc.malloc.hugetlb=1`` malloc advises THP on its mappings (where
    the kernel's THP mode is ``madvise``, the common default, nothing else does): decode
    16.0 -> 18.3 tok/s on the Intel Xeon, in-process A/B (CHANGELOG). An older glibc ignores
    the tunable, a kernel with THP ``never`` gives plain pages: never worse than before.
    """
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return {}  # the operator chose
    return {"GLIBC_TUNABLES": ":".join(filter(None, [tunables, "glibc.malloc.hugetlb=1"]))}


def huge_pages_mb() -> int | None:
    """This process's anonymous memory on transparent huge pages, in MiB (Linux)."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _check_weights(spec: WorkerSpec) -> None:
    if spec.verified is None or spec.sha256 is None:
        return
    path, size, mtime_ns = spec.verified
    st = os.stat(path)
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        from assistant.models.install import verify_file

        verify_file(Path(path), spec.sha256)


def _build(spec: WorkerSpec) -> Any:
    module, _, name = spec.factory.partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory(cpu_mode=spec.cpu_mode, **spec.kwargs)


class _Replies:
    """Our end of the socket, shared by the answers' threads."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.cancels: dict[int, threading.Event] = {}

    def send(self, message: tuple[Any, ...]) -> None:
        with self.lock:
            self.conn.send(message)


def _answer(out: _Replies, generator: Any, rid: int, messages: list[Any], max_tokens: int) -> None:
    cancel = out.cancels[rid]
    usage_sent = False
    try:
        for piece in generator.stream(messages, max_tokens=max_tokens, cancel=cancel):
            usage = getattr(generator, "last_prompt", None)
            if usage is not None and not usage_sent:
                out.send(("usage", rid, tuple(usage)))
                usage_sent = True
            out.send(("piece", rid, piece))
            if cancel.is_set():
                break
        out.send(("end", rid, None))
    except OSError:
        return  # the socket: the parent is gone
    except Exception as exc:  # the process survived: report it, serve the next one
        with contextlib.suppress(OSError):
            out.send(("fail", rid, f"{type(exc).__name__}: {exc}"))
    finally:
        out.cancels.pop(rid, None)


def _tokens(out: _Replies, generator: Any, rid: int, text: str) -> None:
    try:
        out.send(("ok", rid, generator.count_tokens(text)))
    except OSError:
        return
    except Exception as exc:
        with contextlib.suppress(OSError):
            out.send(("fail", rid, f"{type(exc).__name__}: {exc}"))


def serve(conn: Connection) -> None:
    spec: WorkerSpec = conn.recv()
    try:
        if spec.cpu_mode == "no-amx":
            from assistant.models.amx import deny_amx

            deny_amx()  # before llama.cpp sets its buffer types up
        _check_weights(spec)
        generator = _build(spec)
        probe = getattr(generator, "probe", None)
        info: dict[str, Any] = probe() if probe is not None else {}
    except Exception as exc:  # a load error is the model's, not a crash: no restart helps
        conn.send(("err", f"{type(exc).__name__}: {exc}"))
        return
    capacity = getattr(generator, "capacity", 1)
    conn.send(("ready", {**info, "pid": os.getpid(), "cpu_mode": spec.cpu_mode,
                         "capacity": capacity, "huge_pages_mb": huge_pages_mb()}))  # fmt: skip
    out = _Replies(conn)
    on_main: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    reader = threading.Thread(target=_read, args=(conn, out, generator, capacity, on_main),
                              daemon=True, name="requests")  # fmt: skip
    reader.start()
    while (job := on_main.get()) is not None:
        _answer(*job)


def _read(conn: Connection, out: _Replies, generator: Any, capacity: int,
          on_main: queue.SimpleQueue[tuple[Any, ...] | None]) -> None:  # fmt: skip
    """The requests, until the parent goes: answers to the main thread (capacity 1) or
    threads of their own, cancels at once."""
    try:
        for message in workers.requests(conn):
            kind, rid = message[0], message[1]
            if kind == "stream":
                out.cancels[rid] = threading.Event()
                job = (out, generator, rid, message[2], message[3])
                if capacity == 1:
                    on_main.put(job)
                else:
                    _start(_answer, job, f"stream-{rid}")
            elif kind == "tokens":
                _start(_tokens, (out, generator, rid, message[2]), f"tokens-{rid}")
            else:  # ("cancel", rid)
                event = out.cancels.get(rid)
                if event is not None:
                    event.set()
    finally:
        on_main.put(None)


def _start(target: Any, args: tuple[Any, ...], name: str) -> None:
    threading.Thread(target=target, args=args, daemon=True, name=name).start()


if __name__ == "__main__":
    serve(workers.connect())
