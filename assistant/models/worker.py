"""The model's worker process: one generator, driven over a socket pair.

Started by models/supervisor.py as ``python -m assistant.models.worker FD``
(assistant/workers.py). The start-up message is a :class:`WorkerSpec`; the worker
refuses AMX first if its CPU mode says so, checks the weights' hash when the file
changed since the parent verified it, builds the generator, probes it (a batch
read: where a CPU mode crashes, it crashes here) and answers ``("ready", info)``.

Then, one request at a time:

- ``("stream", messages, max_tokens)``: ``("usage", (prompt, reused))`` once the
  prompt is read, ``("piece", text)`` per piece, then ``("end", None)``, or
  ``("fail", reason)`` for an error it survived. A ``("cancel",)`` sent meanwhile
  stops the answer at the next piece (it still ends with ``("end", None)``).
- ``("tokens", text)``: ``("ok", count)`` by the model's tokenizer.
- ``None`` or a closed socket: exit.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from assistant import workers
from assistant.models.cpu import CpuMode

LLAMA_FACTORY = "assistant.models.llama:LlamaGenerator"


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

    def with_mode(self, mode: CpuMode) -> WorkerSpec:
        return WorkerSpec(self.name, self.sha256, mode, self.factory, self.kwargs, self.verified)


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


def _answer(conn: Connection, generator: Any, messages: list[Any], max_tokens: int) -> None:
    cancel = threading.Event()
    usage_sent = False
    try:
        for piece in generator.stream(messages, max_tokens=max_tokens, cancel=cancel):
            usage = getattr(generator, "last_prompt", None)
            if usage is not None and not usage_sent:
                conn.send(("usage", tuple(usage)))
                usage_sent = True
            conn.send(("piece", piece))
            while conn.poll(0):
                if conn.recv() == ("cancel",):
                    cancel.set()
            if cancel.is_set():
                break
    except OSError:
        raise  # the socket: the parent is gone
    except Exception as exc:  # the process survived: report it, serve the next one
        conn.send(("fail", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("end", None))


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
    conn.send(("ready", {**info, "pid": os.getpid(), "cpu_mode": spec.cpu_mode}))
    for message in workers.requests(conn):
        try:
            if message[0] == "stream":
                _answer(conn, generator, message[1], message[2])
            elif message[0] == "tokens":
                conn.send(("ok", generator.count_tokens(message[1])))
        except OSError:
            return  # the parent went away mid-answer
        # a ("cancel",) that arrives after its answer ended is stale: ignored


if __name__ == "__main__":
    serve(workers.connect())
