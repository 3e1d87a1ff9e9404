"""A real two-node Ray cluster on loopback, for the distributed-ingest tests and bench.

``ray start --head`` and a second ``ray start --address=…``, both on 127.0.0.1, with
small CPU, memory and object-store sizes, no dashboard and no usage stats, their
session files in a short private temp dir (Unix socket paths must stay under ~107
characters, so not pytest's tmp_path).

Teardown kills exactly the processes of this cluster: those whose command line
names its temp dir (raylets, GCS, workers, the log monitors), their children
included. ``ray stop --force`` would do it too, but it kills every Ray process
of the machine's users, another engineer's cluster with them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).with_name("ray")
MIB = 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment each node (and so each of its workers) runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        {
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            **(extra or {}),
        }
    )
    return env


@dataclass
class LocalCluster:
    """Two Ray nodes on loopback; ``address`` is what ``ray.init`` and ``--ray`` take."""

    cpus_per_node: int = 1
    memory_mb: int = 1536
    object_store_mb: int = 100
    env: dict[str, str] = field(default_factory=dict)
    temp_dir: Path = field(init=False)
    address: str = field(init=False)

    def start(self) -> LocalCluster:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        common = [
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--memory={self.memory_mb * MIB}",
            f"--object-store-memory={self.object_store_mb * MIB}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]
        env = cluster_env(self.env)
        try:
            self._ray(
                ["start", "--head", f"--port={port}", "--include-dashboard=false", *common], env
            )
            self._ray(["start", f"--address={self.address}", *common], env)
            self._wait_for_nodes(2, env)
        except BaseException:
            self.stop()
            raise
        return self

    def _ray(self, args: list[str], env: dict[str, str]) -> None:
        done = subprocess.run(
            [str(RAY), *args], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"ray {args[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def _wait_for_nodes(self, count: int, env: dict[str, str]) -> None:
        probe = (
            "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', "
            "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
        )
        deadline = time.monotonic() + 120
        while True:
            out = subprocess.run(
                [sys.executable, "-c", probe, self.address],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            ).stdout.strip()
            if out.splitlines() and out.splitlines()[-1] == str(count):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster has {out!r} nodes, not {count}")
            time.sleep(1)

    def processes(self) -> list[psutil.Process]:
        """Every live process of this cluster (found by its temp dir), children included."""
        marker = str(self.temp_dir)
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(marker in part for part in proc.info["cmdline"] or ()):
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
        found.pop(os.getpid(), None)
        return list(found.values())

    def workers(self, title: str = "ray::") -> list[psutil.Process]:
        """Worker processes whose title starts with ``title`` (``ray::<task name>`` while
        running a task, ``ray::IDLE`` between tasks)."""
        out = []
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                cmd = proc.cmdline()
                if cmd and cmd[0].startswith(title):
                    out.append(proc)
        return out

    def stop(self) -> None:
        """Kill this cluster's processes (and only them), then remove its temp dir."""
        if not hasattr(self, "temp_dir"):
            return
        for _ in range(3):
            procs = self.processes()
            if not procs:
                break
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            psutil.wait_procs(procs, timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    """One real two-node cluster for the session's Ray tests (1 CPU each), torn down after."""
    cluster = LocalCluster(cpus_per_node=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
