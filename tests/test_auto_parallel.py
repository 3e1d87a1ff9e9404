"""``PARALLEL=auto``: the worker times answers decoded together against one alone at start
and serves with the batched engine only where it pays (assistant/models/auto_parallel.py).

The choice itself depends on the CPU (the Intel Xeon keeps 4, the EPYCs 1), so the tests
force each side with ``min_gain`` and check what follows from it: the generator each side
runs, the capacity the worker reports, and the queue and worker that follow it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from assistant.answering.queue import ModelQueue
from assistant.models.auto_parallel import WIDTH, AutoParallelGenerator
from assistant.models.batched import BatchedLlamaGenerator
from assistant.models.llama import LlamaGenerator
from assistant.models.model_worker import (
    AUTO_FACTORY,
    BATCHED_FACTORY,
    max_parallel,
    supervised,
    worker_spec,
)
from assistant.models.worker import LLAMA_FACTORY
from assistant.settings import Settings
from tests.conftest import IN_PROCESS_MODE, tiny_one_at_a_time, tiny_weights

QUESTION = [
    {"role": "system", "content": "You answer questions briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_auto_is_the_default_and_reaches_the_worker_with_both_generators_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF")
    auto = worker_spec(Settings(data_dir=tmp_path), weights, "0" * 64)
    assert auto.factory == AUTO_FACTORY
    assert auto.kwargs["parallel"] == WIDTH and auto.kwargs["split_prefill"] == "auto"
    assert max_parallel(Settings(data_dir=tmp_path)) == WIDTH
    one = worker_spec(Settings(data_dir=tmp_path, parallel=1), weights, "0" * 64)
    assert one.factory == LLAMA_FACTORY and "parallel" not in one.kwargs
    three = worker_spec(Settings(data_dir=tmp_path, parallel=3), weights, "0" * 64)
    assert three.factory == BATCHED_FACTORY and three.kwargs["parallel"] == 3
    monkeypatch.setenv("ASSISTANT_PARALLEL", "2")
    assert Settings(data_dir=tmp_path).parallel == 2
    monkeypatch.setenv("ASSISTANT_PARALLEL", "auto")
    assert Settings(data_dir=tmp_path).parallel == "auto"


def test_the_queue_admits_as_many_as_the_model_says_now() -> None:
    capacity = {"now": 4}
    q = ModelQueue(slots=lambda: capacity["now"], max_waiting=8)
    assert q.slots == 4
    capacity["now"] = 1  # the worker started and chose one at a time
    first, second = q.enter(), q.enter()
    assert first.poll(wait=0) == 0
    assert second.poll(wait=0) == 1  # waits: one slot only
    capacity["now"] = 2
    assert second.poll(wait=0) == 0
    first.release()
    second.release()


def _auto(min_gain: float) -> AutoParallelGenerator:
    return AutoParallelGenerator(tiny_weights(), name="smollm2-135m", sha256="0" * 64,
                                 cpu_mode=IN_PROCESS_MODE, context_size=1024, threads=1,
                                 flash_attn=True, min_gain=min_gain)  # fmt: skip


@pytest.mark.slow
def test_each_choice_serves_the_same_answer_with_its_own_capacity() -> None:
    keep, drop = _auto(0.0), _auto(1e9)  # batching kept / dropped whatever it gains
    try:
        kept, dropped = keep.probe()["batching"], drop.probe()["batching"]
        assert kept["gain"] > 0 and kept["capacity"] == WIDTH and keep.capacity == WIDTH
        assert isinstance(keep._inner, BatchedLlamaGenerator)
        assert dropped["capacity"] == 1 and drop.capacity == 1
        assert isinstance(drop._inner, LlamaGenerator)
        answers = ["".join(g.stream(QUESTION, max_tokens=16)) for g in (keep, drop)]
        assert "Paris" in answers[0] and answers[0] == answers[1]
        assert keep.last_prompt is not None and keep.count_tokens("one two") > 0
    finally:
        keep.close()
        drop.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_worker_reports_its_choice_and_its_callers_follow_it(tmp_path: Path) -> None:
    s, one = tiny_one_at_a_time(tmp_path)
    w = supervised(one, s)
    try:
        assert w.capacity == WIDTH  # before it starts: the most it may
        w.load()
        status: dict[str, Any] = w.status()
        assert status["capacity"] == 1 and w.capacity == 1
        probe = status["probes"][-1]
        assert probe["batching"]["capacity"] == 1 and probe["batching"]["setting"] == "auto"
        # two answers at once: the second waits for the first's slot, both come whole
        answers: list[str] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append("".join(w.stream(QUESTION, max_tokens=16)))
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(answers) == 2 and answers[0] == answers[1] and "Paris" in answers[0]
    finally:
        w.close()
