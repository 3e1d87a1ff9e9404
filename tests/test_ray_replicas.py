"""Model replicas as Ray actors, on a real two-node Ray cluster started on loopback.

Each actor runs the same supervised worker process as a local replica (a deterministic
generator here, through the real worker process); the pool sends questions to the
freest one. A worker killed inside an actor costs its answer and is restarted on that
node; an actor whose process is killed is restarted by Ray, meanwhile the other serves.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import ModelCrashed
from assistant.models.ray_replicas import RayReplica, ray_replicas
from assistant.models.replicas import ReplicaPool
from assistant.models.worker import WorkerSpec
from assistant.settings import Settings
from tests.ray_cluster import LocalCluster

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "How long is annual leave?"}]


@pytest.fixture(scope="module")
def pool(
    ray_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaPool]:
    data = tmp_path_factory.mktemp("ray-replicas")
    settings = Settings(
        data_dir=Path(data),
        ray_address=ray_cluster.address,
        threads=1,
        model_restart_backoff_s=0.05,
    )
    spec = WorkerSpec("step", "ab" * 32, "extra", "tests.worker_generators:StepGenerator",
                      {"tokens": 30, "delay": 0.05})  # fmt: skip
    replicas, labels = ray_replicas(settings, spec, 2)
    pool = ReplicaPool(replicas, labels)
    try:
        yield pool
    finally:
        pool.close()


def _answer(pool: ReplicaPool, out: list[object], i: int) -> None:
    try:
        out[i] = ("".join(pool.stream(MESSAGES, max_tokens=100)), pool.last_replica)
    except Exception as exc:
        out[i] = exc


def _both(pool: ReplicaPool) -> list[object]:
    out: list[object] = [None, None]
    threads = [threading.Thread(target=_answer, args=(pool, out, i)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_two_actors_on_two_nodes_answer_at_once(pool: ReplicaPool) -> None:
    assert pool.capacity == 2
    nodes = {st["node"] for st in pool.status()["replicas"]}
    assert len(nodes) == 2  # SPREAD: one actor per node (1 CPU each)
    out = _both(pool)
    assert all(isinstance(o, tuple) and o[0].startswith("word0") for o in out), out
    assert {o[1] for o in out} == set(pool.labels)  # type: ignore[index]
    assert all(label.startswith("ray/") for label in pool.labels), pool.labels
    assert len({label.split("/")[1] for label in pool.labels}) == 2  # two nodes


def test_a_worker_killed_inside_an_actor_costs_its_answer_and_comes_back(
    pool: ReplicaPool,
) -> None:
    first = pool.replicas[0]
    assert isinstance(first, RayReplica)
    before = first.status()["pid"]

    def kill_soon() -> None:
        time.sleep(0.6)
        pool.kill(signal.SIGKILL, replica=0)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    out = _both(pool)
    killer.join()
    crashed = [o for o in out if isinstance(o, ModelCrashed)]
    assert len(crashed) == 1 and all(
        isinstance(o, tuple) for o in out if not isinstance(o, ModelCrashed)
    ), out
    again = _both(pool)
    assert all(isinstance(o, tuple) for o in again), again
    st = first.status()
    assert st["pid"] != before and st["restarts"] >= 1


def test_an_actor_process_killed_is_restarted_by_ray(pool: ReplicaPool) -> None:
    first = pool.replicas[0]
    assert isinstance(first, RayReplica)
    actor_pid = first.actor_pid()
    os.kill(actor_pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    answers = []
    while time.monotonic() < deadline and len(answers) < 4:  # the pool goes on meanwhile
        try:
            answers.append("".join(pool.stream(MESSAGES, max_tokens=10)))
        except ModelCrashed:
            time.sleep(0.5)
    assert len(answers) == 4
    while time.monotonic() < deadline and first.status().get("state") != "ready":
        time.sleep(0.5)
    assert first.status()["state"] == "ready" and first.actor_pid() != actor_pid
