"""The generation model as the answering service sees it: a Generator in another process.

:class:`ModelWorker` streams each answer from the model's worker process
(models/worker.py), which a :class:`~assistant.models.supervisor.Supervisor`
keeps running. When the worker dies mid-answer, that answer fails with
``ModelCrashed`` (the server sends it as an error event and the audit log records
it); the next one waits for the restarted worker. A cancel, or a reader that goes
away, stops the answer at the next token and keeps the two processes in step.

With ``parallel`` > 1 the worker decodes that many answers together
(models/batched.py): up to ``capacity`` streams run at once over the one socket,
each request with an id, and one reader thread hands each reply to its answer. A
worker that dies fails every answer in flight.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from assistant import workers
from assistant.errors import ModelCrashed, ModelError
from assistant.models.auto_parallel import WIDTH as AUTO_WIDTH
from assistant.models.cpu import CpuMode, mode_ladder
from assistant.models.link import WorkerLink
from assistant.models.remembered import StartupMemory
from assistant.models.supervisor import EventHook, Supervisor
from assistant.models.worker import (
    AUTO_FACTORY,
    BATCHED_FACTORY,
    LLAMA_FACTORY,
    WorkerSpec,
    huge_pages_env,
)

if TYPE_CHECKING:
    from pathlib import Path

    from assistant.settings import Settings


def worker_spec(settings: Settings, path: Path, sha256: str) -> WorkerSpec:
    """What the worker process of the configured GGUF model (verified: ``path``, ``sha256``)
    runs; a file found changed when the worker starts is hashed again there."""
    s = settings
    st = path.stat()
    factory, own = _generator(s)
    return WorkerSpec(
        name=s.model,
        sha256=sha256,
        cpu_mode="extra",
        kwargs={
            "model_path": path,
            "name": s.model,
            "sha256": sha256,
            "context_size": s.context_size,
            "threads": s.threads,
            "threads_batch": s.threads_batch,
            "batch_size": s.batch_size,
            "flash_attn": s.flash_attn,
            "temperature": s.temperature,
            "repeat_penalty": s.repeat_penalty,
            **own,
        },
        factory=factory,
        verified=(str(path), st.st_size, st.st_mtime_ns),
        env=huge_pages_env() if s.model_huge_pages else {},
    )


def max_parallel(settings: Settings) -> int:
    """The most answers one worker of ``settings`` may decode at once."""
    return AUTO_WIDTH if settings.parallel == "auto" else settings.parallel


def _generator(s: Settings) -> tuple[str, dict[str, Any]]:
    """The worker's generator for ``PARALLEL`` and the arguments only it takes."""
    if s.parallel == "auto":  # either, as its start-up timing decides
        return AUTO_FACTORY, {"parallel": AUTO_WIDTH, "split_prefill": s.split_prefill}
    if s.parallel > 1:
        return BATCHED_FACTORY, {"parallel": s.parallel, "split_prefill": s.split_prefill}
    return LLAMA_FACTORY, {"split_prefill": s.split_prefill}


def supervised(
    spec: WorkerSpec, settings: Settings, on_event: EventHook | None = None
) -> ModelWorker:
    """``spec``'s worker process, kept running as the settings say."""
    s = settings
    supervisor = Supervisor(
        spec,
        modes=mode_ladder(s.model_cpu_mode),
        max_crashes=s.model_max_crashes,
        backoff_s=s.model_restart_backoff_s,
        start_timeout_s=s.model_start_timeout_s,
        on_event=on_event,
        memory=StartupMemory(s.startup_memory_path) if s.model_remember_startup else None,
    )
    return ModelWorker(supervisor, stall_timeout_s=s.request_timeout_s, capacity=max_parallel(s))


def model_worker(
    settings: Settings, path: Path, sha256: str, on_event: EventHook | None = None
) -> ModelWorker:
    """The configured GGUF model (already verified: ``path``, ``sha256``) in its worker."""
    return supervised(worker_spec(settings, path, sha256), settings, on_event)


class ModelWorker:
    """A Generator (answering/generator.py) whose model runs in a supervised process."""

    def __init__(
        self, supervisor: Supervisor, *, stall_timeout_s: float = 120.0, capacity: int = 1
    ) -> None:
        self.supervisor = supervisor
        self.name = supervisor.name
        self.sha256 = supervisor.sha256
        self.stall_timeout_s = stall_timeout_s
        #: the most answers the worker may decode at once (``parallel``; "auto": its width)
        self.max_capacity = capacity
        self._room = threading.Condition()
        self._taken = 0  # answers holding a slot
        self._local = threading.local()  # each answer's prompt usage, read in its thread
        self._count = threading.Lock()
        self._active = 0
        self._link: WorkerLink | None = None

    # -- the supervisor's view, for /readyz, /metrics, the CLI and tests -----------
    @property
    def on_event(self) -> EventHook | None:
        return self.supervisor.on_event

    @on_event.setter
    def on_event(self, hook: EventHook | None) -> None:
        self.supervisor.on_event = hook

    @property
    def cpu_mode(self) -> CpuMode | None:
        return self.supervisor.cpu_mode

    @property
    def loaded(self) -> bool:
        return self.supervisor.state == "ready"

    @property
    def pid(self) -> int | None:
        return self.supervisor.pid

    @property
    def in_flight(self) -> bool:
        return self.supervisor.in_flight

    def status(self) -> dict[str, Any]:
        return self.supervisor.status()

    @property
    def capacity(self) -> int:
        """Answers the worker decodes at once: what its generator reported when it started
        (``PARALLEL=auto`` decides there), else the most it may."""
        reported = self.supervisor.capacity
        return min(reported, self.max_capacity) if reported else self.max_capacity

    def load(self) -> None:
        """Start the worker if it is not running and wait until it serves (or fails)."""
        self.supervisor.wait_ready(None)

    def kill(self, sig: int = 9) -> None:
        self.supervisor.kill(sig)

    def close(self) -> None:
        self.supervisor.close()

    # -- answering ----------------------------------------------------------------
    @property
    def last_prompt(self) -> tuple[int, int] | None:
        """(prompt tokens, of which reused from the KV cache) of this thread's answer."""
        value: tuple[int, int] | None = getattr(self._local, "last_prompt", None)
        return value

    def _link_to(self, child: workers.Child) -> WorkerLink:
        with self._count:
            if self._link is None or self._link.child is not child:
                self._link = WorkerLink(child)
            return self._link

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the ``capacity`` answers the worker decodes at once (waits for one)."""
        with self._room:
            while self._taken >= self.capacity:
                self._room.wait(0.25)
            self._taken += 1
        try:
            yield
        finally:
            with self._room:
                self._taken -= 1
                self._room.notify()

    def _in_flight(self, change: int) -> None:
        with self._count:
            self._active += change
            self.supervisor.in_flight = self._active > 0

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        with self._slot():
            child = self.supervisor.wait_ready(cancel)
            if child is None:
                return
            self._local.last_prompt = None
            link = self._link_to(child)
            self._in_flight(+1)
            rid, finished = 0, False
            try:
                rid, replies = link.open()
                link.send(("stream", rid, [dict(m) for m in messages], max_tokens))
                cancelled = False
                last = time.monotonic()
                while True:
                    if not cancelled and cancel is not None and cancel.is_set():
                        link.send(("cancel", rid))
                        cancelled = True
                    try:
                        kind, value = replies.get(timeout=0.1)
                    except queue.Empty:
                        if time.monotonic() - last > self.stall_timeout_s:
                            self.supervisor.lost_answer = True
                            child.kill()
                            raise ModelCrashed(
                                f"the model stopped responding for {self.stall_timeout_s:g} s "
                                "and was restarted"
                            ) from None
                        continue
                    last = time.monotonic()
                    if kind == "usage":
                        self._local.last_prompt = (int(value[0]), int(value[1]))
                    elif kind == "piece":
                        if not cancelled:
                            yield value
                    elif kind == "end":
                        finished = True
                        break
                    elif kind == "fail":
                        finished = True
                        raise ModelError(f"the model failed: {value}")
                    else:  # the socket broke: every answer in flight fails
                        raise EOFError
            except (EOFError, OSError):
                self.supervisor.lost_answer = True
                code = _exit_code(child)
                raise ModelCrashed(
                    f"the model process died ({workers.describe_exit(code)}) while answering; "
                    "it is being restarted: please ask again",
                ) from None
            finally:
                self._in_flight(-1)
                if rid and not finished:
                    link.abandon(rid)
                link.close(rid)
            self.supervisor.healthy()  # an answer went through

    def count_tokens(self, text: str) -> int:
        child = self.supervisor.wait_ready(None)
        assert child is not None
        link = self._link_to(child)
        rid, replies = link.open()
        try:
            link.send(("tokens", rid, text))
            kind, value = replies.get()  # a broken socket puts ("crashed", None) there
        except (EOFError, OSError):
            raise ModelCrashed("the model process died while counting tokens") from None
        finally:
            link.close(rid)
        if kind != "ok":
            raise ModelCrashed(f"the model could not count tokens: {value or 'it died'}")
        return int(value)


def _exit_code(child: workers.Child) -> int | None:
    try:
        return child.proc.wait(5)
    except Exception:  # still running after its socket broke: kill it
        child.kill()
        return child.proc.wait(5)
