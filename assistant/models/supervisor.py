"""Keeps the generation model's worker process running, in the fastest CPU mode that works.

:class:`Supervisor` starts the worker (models/worker.py) on first use, in the first
CPU mode of its ladder (models/cpu.py); a mode whose start-up probe crashes is
dropped for the next, and the mode that passed is used from then on. A worker that
dies later (segfault, abort, OOM kill) is started again after a back-off that
doubles per crash in a row; questions waiting in the queue go on once it is back
(models/model_worker.py fails the answer in flight). A mode that crashes twice is
dropped too, where a slower one is left. After ``max_crashes`` crashes in a row, or
a load error (bad weights: no restart would help), the model is refused with the
reason until the process restarts: no crash loop eats the CPU.

``status()`` says what is happening, for /readyz, /metrics and the CLI;
``on_event(phase, data)`` is told of starts, probe failures, crashes and refusal
(the audit log and the logs listen).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from assistant import workers
from assistant.errors import ModelUnavailable
from assistant.models.cpu import CpuMode
from assistant.models.remembered import Choices, StartupMemory
from assistant.models.worker import WorkerSpec

EventHook = Callable[[str, dict[str, Any]], None]


class Supervisor:
    """Keeps one model worker process running (see the module's docstring)."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        modes: Sequence[CpuMode],
        max_crashes: int = 5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        start_timeout_s: float = 300.0,
        on_event: EventHook | None = None,
        memory: StartupMemory | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.sha256 = spec.sha256
        #: what the first start on this machine chose, run again (models/remembered.py)
        self.choices = Choices(memory, spec, modes)
        self.modes: list[CpuMode] = self.choices.modes()
        self.max_crashes = max_crashes
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.start_timeout_s = start_timeout_s
        self.on_event = on_event
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._child: workers.Child | None = None
        self._closing = False
        self._epoch = 0  # close() starts a new one: a thread of an older one stops
        self._state = "stopped"
        self._probes: list[dict[str, Any]] = []
        self._error: str | None = None
        self._last_exit: str | None = None
        self._retry_at: float | None = None
        self._crashes_in_row = 0
        self._crashes_by_mode: dict[str, int] = {}
        self._restarts = 0
        #: an answer is being generated (set by its reader): a crash then fails that answer
        self.in_flight = False
        #: set by the reader that saw the worker die under its answer (it may clear
        #: ``in_flight`` before this thread sees the exit)
        self.lost_answer = False
        #: answers the worker said it decodes at once when it last started (None: not yet)
        self.capacity: int | None = None

    # -- what is happening -------------------------------------------------------
    @property
    def cpu_mode(self) -> CpuMode | None:
        return self.modes[0] if self.modes and self._probes else None

    @property
    def state(self) -> str:
        return self._state

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def status(self) -> dict[str, Any]:
        with self._cond:
            out: dict[str, Any] = {
                "model": self.name,
                "state": self._state,
                "cpu_mode": self.cpu_mode,
                "pid": self.pid,
                "restarts": self._restarts,
                "crashes_in_row": self._crashes_in_row,
                "probes": list(self._probes),
            }
            if self.capacity is not None:
                out["capacity"] = self.capacity
            if self._last_exit:
                out["last_exit"] = self._last_exit
            if self._error:
                out["error"] = self._error
            if self._retry_at is not None and self._state == "restarting":
                out["restart_in_s"] = round(max(0.0, self._retry_at - time.monotonic()), 1)
            return out

    # -- life cycle ---------------------------------------------------------------
    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._epoch += 1
            child, thread = self._child, self._thread
            self._cond.notify_all()
        if child is not None:
            child.stop(kill=False)
        if thread is not None:
            thread.join(10)
        with self._cond:  # a later use starts a fresh worker (another app, same process)
            self._state, self._thread, self._child, self._closing = "stopped", None, None, False

    def kill(self, sig: int = 9) -> None:
        """Send ``sig`` to the worker (tests: a crash on demand)."""
        import os

        pid = self.pid
        if pid is not None:
            os.kill(pid, sig)

    def _emit(self, phase: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(phase, {"model": self.name, "sha256": self.sha256, **data})

    def _ensure_started(self) -> None:
        if self._thread is None and not self._closing:
            self._state = "starting"
            self._thread = threading.Thread(
                target=self._supervise,
                args=(self._epoch,),
                daemon=True,
                name=f"model-worker-{self.name}",
            )
            self._thread.start()

    def _supervise(self, epoch: int) -> None:
        while True:
            with self._cond:
                if epoch != self._epoch:
                    return
                mode = self.modes[0]
            started = time.monotonic()
            try:
                child, info = workers.start(
                    "assistant.models.worker",
                    self.choices.spec_for(mode),
                    timeout_s=self.start_timeout_s,
                    env=self.spec.env,
                )
            except workers.StartFailed as exc:
                if self._start_failed(mode, exc, epoch):
                    return
                continue
            probe = {
                "mode": mode,
                "result": "passed",
                "seconds": round(time.monotonic() - started, 2),
                **({"prefill": info["prefill"]} if info.get("prefill") else {}),
                **({"huge_pages_mb": info["huge_pages_mb"]} if info.get("huge_pages_mb") else {}),
                **({"batching": info["batching"]} if info.get("batching") else {}),
            }
            probe.update(self.choices.started(mode, info, list(self._probes)))
            with self._cond:
                if epoch != self._epoch:  # closed while it started
                    child.stop(kill=False)
                    return
                if not any(p["mode"] == mode and p["result"] == "passed" for p in self._probes):
                    self._probes.append(probe)
                self._child, self._state = child, "ready"
                self.capacity = int(info.get("capacity") or 1)
                self._retry_at = None
                self._cond.notify_all()
            self._emit("started", {"cpu_mode": mode, "pid": child.pid, "probe": probe,
                                   "system_info": info.get("system_info")})  # fmt: skip
            code = child.proc.wait()
            with self._cond:
                if epoch != self._epoch:
                    return
                self._child = None
                in_flight, self.lost_answer = self.in_flight or self.lost_answer, False
            child.conn.close()
            if self._crashed(mode, workers.describe_exit(code), epoch, in_flight=in_flight):
                return

    def _start_failed(self, mode: CpuMode, exc: workers.StartFailed, epoch: int) -> bool:
        """True when the model is now refused for good."""
        if not exc.crashed:  # it said why: bad weights, a load error; no restart helps
            return self._fail(f"the model could not be loaded: {exc.reason}")
        with self._cond:
            probed = any(p["mode"] == mode for p in self._probes)
            if not probed and len(self.modes) > 1:  # the probe crashed: the next mode
                self._probes.append({"mode": mode, "result": exc.reason})
                self.modes.pop(0)
                self.choices.fell_back()
                self._cond.notify_all()
                fallback = True
            else:
                fallback = False
        if fallback:
            self._emit("probe_failed", {"cpu_mode": mode, "reason": exc.reason,
                                        "next_mode": self.modes[0]})  # fmt: skip
            return False
        return self._crashed(mode, exc.reason, epoch, in_flight=False)

    def _crashed(self, mode: CpuMode, reason: str, epoch: int, *, in_flight: bool) -> bool:
        """Count a crash; wait out the back-off. True when the model is now refused."""
        with self._cond:
            self._crashes_in_row += 1
            self._restarts += 1
            self._last_exit = reason
            n = self._crashes_by_mode[mode] = self._crashes_by_mode.get(mode, 0) + 1
            crashes = self._crashes_in_row
            demoted = n >= 2 and len(self.modes) > 1
            if demoted:
                self.modes.pop(0)
        self._emit("crashed", {"cpu_mode": mode, "reason": reason, "in_flight": in_flight,
                               "crashes_in_row": crashes})  # fmt: skip
        if crashes >= self.max_crashes:
            return self._fail(
                f"the model process crashed {crashes} times in a row (last: {reason}); "
                "it is not restarted until the server is"
            )
        if demoted:
            self._emit("fallback", {"cpu_mode": mode, "next_mode": self.modes[0]})
        delay = min(self.backoff_s * 2 ** (crashes - 1), self.backoff_max_s)
        with self._cond:
            self._state, self._retry_at = "restarting", time.monotonic() + delay
            self._cond.notify_all()
            self._cond.wait_for(lambda: epoch != self._epoch, timeout=delay)
            return epoch != self._epoch

    def _fail(self, error: str) -> bool:
        with self._cond:
            self._state, self._error = "failed", error
            self._cond.notify_all()
        self._emit("failed", {"reason": error})
        return True

    def healthy(self) -> None:
        """An answer went through: the crash count starts again."""
        with self._cond:
            self._crashes_in_row = 0

    def wait_ready(self, cancel: threading.Event | None) -> workers.Child | None:
        """The running worker, started if need be; None if ``cancel`` was set meanwhile.
        Raises ``ModelUnavailable`` when the model is refused or does not come up."""
        deadline = time.monotonic() + self.start_timeout_s + self.backoff_max_s
        with self._cond:
            self._ensure_started()
            while True:
                child = self._child
                if self._state == "ready" and child is not None and child.alive():
                    return child
                if self._state == "failed":
                    raise ModelUnavailable(self._error or "the model failed",
                                           hint="see /readyz and the server log")  # fmt: skip
                if self._closing:
                    raise ModelUnavailable("the model is shutting down")
                if cancel is not None and cancel.is_set():
                    return None
                if time.monotonic() > deadline:
                    raise ModelUnavailable(f"the model is not ready ({self._state})")
                self._cond.wait(0.25)
