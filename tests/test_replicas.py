"""Model replicas: several worker processes of one model behind the one fair queue.

Real worker processes (a deterministic generator in each), a real server on loopback:
two questions are answered at once by two replicas, the audit names the replica that
answered, and a replica killed mid-answer costs that answer only while the other goes
on and the dead one is restarted. The last test starts two replicas of the real tiny
model from the settings alone.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assistant.models.embed import HashEmbedder
from assistant.models.model_worker import ModelWorker
from assistant.models.replicas import ReplicaPool, replica_threads
from assistant.models.supervisor import Supervisor
from assistant.models.worker import WorkerSpec
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import SAMPLE, add_user, open_collection
from tests.live import live_server
from tests.test_api import _sse

QUESTION = "How many days of paid annual leave do full-time employees get?"


def _replica(tokens: int = 30, delay: float = 0.05) -> ModelWorker:
    spec = WorkerSpec("step", "ab" * 32, "extra", "tests.worker_generators:StepGenerator",
                      {"tokens": tokens, "delay": delay})  # fmt: skip
    return ModelWorker(Supervisor(spec, modes=["extra"], backoff_s=0.05, start_timeout_s=30))


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, dict[str, str], Resources, ReplicaPool]]:
    pool = ReplicaPool([_replica(), _replica()])
    settings = settings.model_copy(update={"verify_grounding": False})  # synthetic text
    res = Resources(settings, embedder=HashEmbedder(), generator=pool)
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    auth = {"Authorization": f"Bearer {add_user(res)}"}
    pool.load()
    try:
        with live_server(create_app(settings, res, warm_up=False)) as url:
            yield url, auth, res, pool
    finally:
        res.close()


def _ask_all(url: str, auth: dict[str, str], n: int) -> list[list[tuple[str, Any]]]:
    results: list[list[tuple[str, Any]]] = [[] for _ in range(n)]

    def ask(i: int) -> None:
        with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
            r = client.post("/api/ask/stream", json={"question": QUESTION})
            results[i] = _sse(r.text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_replicas_answer_two_questions_at_once_and_the_audit_names_each(
    served: tuple[str, dict[str, str], Resources, ReplicaPool],
) -> None:
    url, auth, res, pool = served
    assert pool.capacity == 2 and res.answers.queue.slots == 2
    both_busy = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not both_busy.is_set():
            if all(r.in_flight for r in pool.replicas):  # type: ignore[attr-defined]
                both_busy.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    results = _ask_all(url, auth, 3)  # the third waits for a free replica
    watcher.join()
    assert both_busy.is_set()
    assert all(events[-1][0] == "done" for events in results)
    assert any(k == "queue" for events in results for k, _ in events)  # one waited its turn
    answered = [r for r in res.audit.records() if r.kind == "question"]
    assert sorted({r.data["replica"] for r in answered}) == ["local/1", "local/2"]
    status = pool.status()
    assert status["state"] == "ready" and [s["replica"] for s in status["replicas"]] == [
        "local/1",
        "local/2",
    ]


def test_a_replica_killed_mid_answer_costs_that_answer_only_and_is_replaced(
    served: tuple[str, dict[str, str], Resources, ReplicaPool],
) -> None:
    url, auth, res, pool = served
    victim = pool.replicas[0]
    first_pid = victim.pid  # type: ignore[attr-defined]

    def kill_when_both_answer() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(r.in_flight for r in pool.replicas):  # type: ignore[attr-defined]
                time.sleep(0.3)
                pool.kill(signal.SIGKILL, replica=0)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_both_answer)
    killer.start()
    results = _ask_all(url, auth, 2)
    killer.join()
    outcomes = sorted(events[-1][0] for events in results)
    assert outcomes == ["done", "error"]
    error = next(events[-1][1] for events in results if events[-1][0] == "error")
    assert error["error"] == "model_crashed"
    again = _ask_all(url, auth, 2)  # both answered: the dead replica is back (or the other)
    assert [events[-1][0] for events in again] == ["done", "done"]
    deadline = time.monotonic() + 30
    while victim.status()["state"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.pid != first_pid and pool.status()["restarts"] == 1  # type: ignore[attr-defined]
    phases = [r.data["phase"] for r in res.audit.records() if r.kind == "model_worker"]
    assert phases.count("crashed") == 1 and phases.count("started") == 3
    assert res.audit.verify().ok


def test_the_cores_are_shared_out_among_replicas(settings: Settings) -> None:
    s = settings.model_copy(update={"threads": 2, "threads_batch": None})
    assert replica_threads(s, 2) == {"threads": 1, "threads_batch": None}
    assert replica_threads(s.model_copy(update={"threads_batch": 4}), 3) == {
        "threads": 1,
        "threads_batch": 1,
    }
    with pytest.raises(ValueError):
        ReplicaPool([])


@pytest.mark.slow
def test_two_replicas_of_the_real_tiny_model_from_the_settings(settings: Settings) -> None:
    s = settings.model_copy(
        update={"model": "smollm2-135m", "replicas": 2, "threads": 2, "max_tokens": 16,
                "parallel": 1}  # one answer each (PARALLEL=auto: tests/test_auto_parallel.py)
    )  # fmt: skip
    res = Resources(s, embedder=HashEmbedder())
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        open_collection(res)
        pool = res.generator
        assert isinstance(pool, ReplicaPool) and pool.capacity == 2
        answers: list[Any] = [None, None]

        def ask(i: int) -> None:
            answers[i] = res.answers.answer(QUESTION, user="alice")

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(a is not None and a.model == "smollm2-135m" for a in answers)
        models = {a.replica for a in answers if not a.refused or a.replica}
        assert models <= {"local/1", "local/2"} and models
        pids = {st["pid"] for st in pool.status()["replicas"]}
        assert len(pids) == 2 and None not in pids  # two processes
    finally:
        res.close()
