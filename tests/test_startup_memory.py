"""The model worker's start-up choices are kept in the data directory and run again at the
next start (assistant/models/remembered.py): the CPU mode without crashing the probes of the
modes above it, the split prefill and PARALLEL=auto's choice without timing them again.

Real worker processes run the deterministic generator of tests/worker_generators.py, whose
probe dies of SIGSEGV in the CPU modes it is told to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.models.cpu import CpuMode
from assistant.models.model_worker import ModelWorker, supervised
from assistant.models.remembered import StartupMemory, key_for, pinned
from assistant.models.supervisor import Supervisor
from assistant.models.worker import AUTO_FACTORY, BATCHED_FACTORY, LLAMA_FACTORY, WorkerSpec
from tests.conftest import tiny_one_at_a_time

STEP = "tests.worker_generators:StepGenerator"
LADDER: tuple[CpuMode, ...] = ("extra", "no-amx", "plain")
MESSAGES = [{"role": "user", "content": "How long is annual leave?"}]


def spec_of(**kwargs: Any) -> WorkerSpec:
    return WorkerSpec("step", None, "extra", STEP, {"tokens": 2, **kwargs})


def started(
    memory: StartupMemory,
    spec: WorkerSpec,
    events: list[str],
    modes: tuple[CpuMode, ...] = LADDER,
) -> ModelWorker:
    supervisor = Supervisor(
        spec,
        modes=modes,
        backoff_s=0.05,
        start_timeout_s=30,
        on_event=lambda phase, data: events.append(phase),
        memory=memory,
    )
    w = ModelWorker(supervisor)
    assert "".join(w.stream(MESSAGES, max_tokens=10)).startswith("word0 word1 ")
    return w


def test_the_next_start_runs_the_first_ones_choice_without_probing_again(tmp_path: Path) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    spec = spec_of(crash_modes=["extra"])
    first: list[str] = []
    w = started(memory, spec, first)
    w.close()
    assert first.count("probe_failed") == 1  # extra crashed, no-amx ran
    (entry,) = json.loads(memory.path.read_text()).values()
    assert entry["cpu_mode"] == "no-amx" and entry["model"] == "step"
    assert entry["measured"]["tried"] == [{"mode": "extra", "result": "killed by SIGSEGV"}]

    again: list[str] = []
    w = started(memory, spec, again)
    try:
        st = w.status()
        assert "probe_failed" not in again  # extra was not tried again
        assert st["cpu_mode"] == "no-amx"
        (probe,) = st["probes"]
        assert probe["remembered"]["at"] == entry["at"]
        assert probe["remembered"]["tried"] == entry["measured"]["tried"]
    finally:
        w.close()


def test_other_arguments_or_another_ladder_are_measured_afresh(tmp_path: Path) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    spec = spec_of(crash_modes=["extra"])
    started(memory, spec, []).close()
    events: list[str] = []
    started(memory, spec_of(crash_modes=["extra"], tokens=3), events).close()
    assert events.count("probe_failed") == 1
    events.clear()
    started(memory, spec, events, modes=("extra", "plain")).close()
    assert events.count("probe_failed") == 1
    assert len(memory.entries()) == 3


def test_an_unreadable_memory_is_measured_again_and_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    memory.path.write_text("{ not json", encoding="utf-8")
    events: list[str] = []
    started(memory, spec_of(crash_modes=["extra"]), events).close()
    assert events.count("probe_failed") == 1
    assert "is unreadable" in caplog.text
    (entry,) = memory.entries().values()
    assert entry["cpu_mode"] == "no-amx"


def test_an_entry_that_is_not_ours_is_measured_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    spec = spec_of(crash_modes=["extra"])
    edited = {"model": "step", "cpu_mode": "no-amx"}  # split and capacity gone
    memory.path.write_text(json.dumps({key_for(spec, LADDER): edited}), encoding="utf-8")
    events: list[str] = []
    started(memory, spec, events).close()
    assert events.count("probe_failed") == 1 and "not one of ours" in caplog.text
    assert (memory.recall(key_for(spec, LADDER)) or {}).get("capacity") == 1  # replaced


def test_a_remembered_mode_that_crashes_now_is_replaced_by_the_next(tmp_path: Path) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    spec = spec_of(crash_modes=["extra"])
    stale = {"model": "step", "at": "2026-01-01T00:00:00+00:00", "cpu_mode": "extra",
             "split": False, "capacity": 1, "measured": {}}  # fmt: skip
    memory.path.write_text(json.dumps({key_for(spec, LADDER): stale}), encoding="utf-8")
    events: list[str] = []
    w = started(memory, spec, events)
    try:
        assert events.count("probe_failed") == 1
        assert w.status()["cpu_mode"] == "no-amx"
        (entry,) = memory.entries().values()
        assert entry["cpu_mode"] == "no-amx"  # replaced, not kept
    finally:
        w.close()


def test_the_first_entry_stands_and_forget_drops_one_models(tmp_path: Path) -> None:
    memory = StartupMemory(tmp_path / "model-startup.json")
    a, b = spec_of(), WorkerSpec("other", None, "extra", STEP, {"tokens": 2})
    record = {"model": "step", "cpu_mode": "plain", "split": False, "capacity": 1}
    ka, kb = key_for(a, LADDER), key_for(b, LADDER)
    assert ka != kb
    assert memory.keep(ka, record)
    assert not memory.keep(ka, {**record, "cpu_mode": "extra"})
    assert memory.keep(kb, {**record, "model": "other"})
    assert (memory.recall(ka) or {})["cpu_mode"] == "plain"
    assert memory.forget("step") == 1
    assert memory.recall(ka) is None
    assert memory.recall(kb) is not None


def test_pinned_runs_the_split_and_the_generator_that_were_chosen() -> None:
    kwargs = {"parallel": 4, "split_prefill": "auto", "threads": 2, "min_gain": 1.8}
    auto = WorkerSpec("m", "0" * 64, "extra", AUTO_FACTORY, kwargs)
    batched = pinned(auto, {"cpu_mode": "no-amx", "split": True, "capacity": 4})
    assert batched.factory == BATCHED_FACTORY and batched.cpu_mode == "no-amx"
    assert batched.kwargs == {"parallel": 4, "split_prefill": "on", "threads": 2}
    one = pinned(auto, {"cpu_mode": "plain", "split": False, "capacity": 1})
    assert one.factory == LLAMA_FACTORY
    assert one.kwargs == {"split_prefill": "off", "threads": 2}
    forced = WorkerSpec("m", None, "extra", LLAMA_FACTORY, {"split_prefill": "off"})
    assert pinned(forced, {"cpu_mode": "extra", "split": True, "capacity": 1}).kwargs == {
        "split_prefill": "off"  # a setting the operator chose is not overridden
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_real_models_second_start_runs_the_generator_the_first_chose(tmp_path: Path) -> None:
    s, one = tiny_one_at_a_time(tmp_path)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    seen = []
    for _ in range(2):
        w = supervised(one, s)
        try:
            w.load()
            probe = w.status()["probes"][-1]
            mode = w.status()["cpu_mode"]
            seen.append((probe, "".join(w.stream(question, max_tokens=12)), mode))
            ran = w.supervisor.choices.spec_for(mode)
        finally:
            w.close()
    (first, answer, mode), (again, answer_again, mode_again) = seen
    assert "remembered" not in first and first["batching"]["capacity"] == 1
    assert again["remembered"]["at"] and again["batching"] == first["batching"]
    assert again.get("prefill", {}).get("split") == first.get("prefill", {}).get("split")
    assert ran.factory == LLAMA_FACTORY and ran.kwargs["split_prefill"] in ("on", "off")
    assert mode_again == mode and answer_again == answer
    assert s.startup_memory_path.is_file()
