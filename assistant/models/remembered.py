"""What a model's worker chose at its first start on this machine, kept for every later one.

The worker measures three things as it starts (models/supervisor.py, models/worker.py):
the CPU mode that does not crash (models/cpu.py), whether a second, plain context reads
prompts faster (``split_prefill``, models/prefill.py) and whether decoding several answers
together pays (``PARALLEL=auto``, models/auto_parallel.py). The last two are timings, and
on a shared 2-core machine timings scatter around their thresholds: on the Intel Xeon with
AMX the split's probe timed the plain read at 0.81-0.90 of the repacked one against a
threshold of 0.85, so 4 of 22 starts of qwen2.5-1.5b in one day did not split. Greedy
decoding then reads the prompt with other rounding, and those workers answered a third
of the git and Arabic questions in other words (docs/EVAL-HISTORY.md, 22). An answer
should not change because the server restarted.

So the first start's choices are written to ``model-startup.json`` in the data directory,
under a key of everything they depend on -- the CPU (model name and flags),
llama-cpp-python's build (its version and installed files), the model and its SHA-256,
the generator and the settings it starts with -- and a later start with the same key
runs them as they are (:func:`pinned`): the mode that ran, the split on or off, batched or
one at a time, without measuring again (and without crashing the probe of a mode that
failed). Another CPU, build, model file or setting is another key, measured afresh.
``assistant models verify --probe`` forgets the model's entry and measures again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assistant.models.cpu import CpuMode, describe_cpu
from assistant.models.worker import AUTO_FACTORY, BATCHED_FACTORY, LLAMA_FACTORY, WorkerSpec

log = logging.getLogger(__name__)


def _llama_build() -> str:
    """llama-cpp-python's version and a hash of its installed files' hashes (its RECORD):
    a portable and a native build of one version are two builds."""
    try:
        dist = metadata.distribution("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "none"
    record = (dist.read_text("RECORD") or "").encode()
    return f"{dist.version}+{hashlib.sha256(record).hexdigest()[:16]}"


def key_for(spec: WorkerSpec, modes: Sequence[CpuMode]) -> str:
    """What the choices depend on, hashed: this CPU, the llama.cpp build, the weights,
    every argument the worker's generator starts with (the model's path is its hash) and
    the CPU modes it may try (``model_cpu_mode``)."""
    cpu = describe_cpu()
    kwargs = {k: str(v) for k, v in spec.kwargs.items() if k != "model_path"}
    what = {
        "cpu": [cpu["model"], sorted(cpu["flags"])],
        "llama_cpp": _llama_build(),
        "model": [spec.name, spec.sha256],
        "factory": spec.factory,
        "kwargs": kwargs,
        "env": spec.env,
        "modes": list(modes),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def record_of(
    spec: WorkerSpec, mode: CpuMode, info: dict[str, Any], tried: list[Any]
) -> dict[str, Any]:
    """The entry a worker's first start leaves: the choices, what they were measured as."""
    prefill = info.get("prefill") or {}
    batching = info.get("batching") or {}
    return {
        "model": spec.name,
        "cpu": describe_cpu()["model"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_mode": mode,
        "split": bool(prefill.get("split", False)),
        "capacity": int(info.get("capacity") or 1),
        "measured": {"prefill": prefill, "batching": batching, "tried": tried},
    }


def pinned(spec: WorkerSpec, record: dict[str, Any]) -> WorkerSpec:
    """``spec`` running ``record``'s choices without measuring them: its CPU mode, the
    split prefill on or off, and for ``PARALLEL=auto`` the generator it kept."""
    kwargs = dict(spec.kwargs)
    factory = spec.factory
    if kwargs.get("split_prefill") == "auto":
        kwargs["split_prefill"] = "on" if record["split"] else "off"
    if factory == AUTO_FACTORY:
        kwargs.pop("min_gain", None)  # the choice's own threshold: made already
        width = kwargs.pop("parallel", 1)
        if record["capacity"] > 1:
            factory, kwargs["parallel"] = BATCHED_FACTORY, width
        else:
            factory = LLAMA_FACTORY
    return dataclasses.replace(spec, cpu_mode=record["cpu_mode"], factory=factory, kwargs=kwargs)


def _valid(entry: Any) -> bool:
    """Whether ``entry`` holds the choices ``pinned`` runs (a hand-edited one may not)."""
    return (
        isinstance(entry, dict)
        and entry.get("cpu_mode") in ("extra", "no-amx", "plain")
        and isinstance(entry.get("split"), bool)
        and isinstance(entry.get("capacity"), int)
    )


class StartupMemory:
    """The entries of ``model-startup.json``; each change under an exclusive file lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            data = exc
        if not isinstance(data, dict):  # measured again, and rewritten by the next keep()
            why = data if isinstance(data, Exception) else "not an object"
            log.warning("%s is unreadable (%s): start-up measured again", self.path, why)
            return {}
        return data

    def recall(self, key: str) -> dict[str, Any] | None:
        """The entry kept under ``key`` (:func:`key_for`; None: none, or not one of ours)."""
        entry = self.entries().get(key)
        if entry is None:
            return None
        if not _valid(entry):  # measured again, and replaced by the next keep()
            model = entry.get("model") if isinstance(entry, dict) else key
            log.warning("%s: an entry for %s is not one of ours: start-up measured again",
                        self.path, model)  # fmt: skip
            return None
        return entry

    def keep(self, key: str, record: dict[str, Any], *, replace: bool = False) -> bool:
        """Write ``record`` under ``key`` unless an entry is there already (two replicas
        started together: the first one's stands) or ``replace``. False: nothing written."""
        with self._locked():
            entries = self.entries()
            if key in entries and _valid(entries[key]) and not replace:
                return False
            entries[key] = record
            self._write(entries)
        return True

    def forget(self, model: str | None = None) -> int:
        """Drop the entries of ``model`` (None: all); how many were dropped."""
        with self._locked():
            entries = self.entries()
            kept = {
                k: e for k, e in entries.items() if model is not None and e.get("model") != model
            }
            self._write(kept)
        return len(entries) - len(kept)

    @contextlib.contextmanager
    def _locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, entries: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class Choices:
    """One supervisor's use of the memory: the ladder to try, the spec each start runs,
    and the entry its first measured start leaves (``memory`` None: measured each time)."""

    def __init__(
        self, memory: StartupMemory | None, spec: WorkerSpec, modes: Sequence[CpuMode]
    ) -> None:
        self.memory, self.spec, self.ladder = memory, spec, list(modes)
        #: what the choices depend on, hashed once (it reads /proc/cpuinfo and the RECORD)
        self.key = key_for(spec, modes) if memory is not None else ""
        self.record = memory.recall(self.key) if memory is not None else None
        if self.record is not None and self.record["cpu_mode"] not in self.ladder:
            self.record = None
        self._replace = False

    def modes(self) -> list[CpuMode]:
        """The ladder from the remembered mode on (the modes above it crashed here)."""
        if self.record is None:
            return list(self.ladder)
        return self.ladder[self.ladder.index(self.record["cpu_mode"]) :]

    def spec_for(self, mode: CpuMode) -> WorkerSpec:
        spec = pinned(self.spec, self.record) if self.record is not None else self.spec
        return spec.with_mode(mode)

    def started(self, mode: CpuMode, info: dict[str, Any], tried: list[Any]) -> dict[str, Any]:
        """After a start: what the probe record adds (a remembered start: what was measured
        then, and when); a measured one is kept, and pinned for the restarts to come."""
        if self.record is not None:
            measured = self.record.get("measured") or {}
            return {
                "remembered": {"at": self.record.get("at"), "tried": measured.get("tried", [])},
                **{k: measured[k] for k in ("prefill", "batching") if measured.get(k)},
            }
        record = record_of(self.spec, mode, info, tried)
        if self.memory is not None:
            self.memory.keep(self.key, record, replace=self._replace)
        self.record = record
        return {}

    def fell_back(self) -> None:
        """The remembered mode crashed at its start: measure the next one, and replace
        the entry with what it finds."""
        self.record, self._replace = None, True
