"""Model replicas as Ray actors, on the nodes of a Ray cluster.

With ``REPLICA_BACKEND=ray`` (and ``RAY_ADDRESS``), each of the ``REPLICAS`` copies of a
chat model is a Ray actor placed by Ray's SPREAD strategy. The actor does not load the
model itself: it runs the same supervised worker process as a local replica
(models/model_worker.py) on its node, so a native crash there is restarted on that node
and costs only the answer in flight, and the weights are checked on that node against
the pinned SHA-256 before llama.cpp reads them (every node holds the models under the
same ``MODELS_DIR``: ``assistant models install`` on each). An actor whose process dies
is restarted by Ray (``max_restarts``); meanwhile the pool (models/replicas.py) sends
questions to the others. Answers stream back piece by piece (an actor generator), and
a cancel reaches the actor while it streams (a threaded actor). The audit record names
the replica as ``ray/<node address>/<n>``.

Ray is imported only here, and only when this backend is chosen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, ModelCrashed, ModelUnavailable
from assistant.models.model_worker import max_parallel
from assistant.models.worker import WorkerSpec

if TYPE_CHECKING:
    from assistant.settings import Settings

#: Concurrent calls one actor takes beside its PARALLEL answers: cancels, statuses, loads.
ACTOR_CONCURRENCY = 8
#: How long the head trusts an actor's "ready" (the pool reads it before each answer).
STATUS_TTL_S = 2.0
_OPEN: set[int] = set()  # replicas not closed yet
_OWNED: set[bool] = set()  # {True}: this module connected to the cluster (and disconnects)


class ModelActor:
    """Runs on a Ray node (as ``ray.remote(ModelActor)``): one supervised model worker."""

    def __init__(self, spec: WorkerSpec, settings: Settings) -> None:
        import ray

        from assistant.models.model_worker import supervised

        self.worker = supervised(spec, settings)
        # the node's address and the start of its id: two nodes may share an address
        node_id = ray.get_runtime_context().get_node_id()
        self.node = f"{ray.util.get_node_ip_address()}:{node_id[:8]}"
        self._cancels: dict[str, threading.Event] = {}
        # start the worker now: after Ray restarts a dead actor, it is ready before it is asked
        threading.Thread(target=self._start, daemon=True, name="model-start").start()

    def _start(self) -> None:
        with contextlib.suppress(Exception):  # a refusal shows in status() with its reason
            self.worker.load()

    def stream(
        self, rid: str, messages: list[dict[str, str]], max_tokens: int
    ) -> Iterator[tuple[str, Any]]:
        cancel = self._cancels.setdefault(rid, threading.Event())
        try:
            first = True
            for piece in self.worker.stream(messages, max_tokens=max_tokens, cancel=cancel):
                if first and self.worker.last_prompt is not None:
                    yield ("usage", tuple(self.worker.last_prompt))
                first = False
                yield ("piece", piece)
        finally:
            self._cancels.pop(rid, None)

    def cancel(self, rid: str) -> None:
        self._cancels.setdefault(rid, threading.Event()).set()

    def status(self) -> dict[str, Any]:
        return {**self.worker.status(), "node": self.node}

    def load(self) -> str:
        self.worker.load()
        return self.node

    def count_tokens(self, text: str) -> int:
        return self.worker.count_tokens(text)

    def kill(self, sig: int = 9) -> None:
        self.worker.kill(sig)

    def pid(self) -> int:
        return os.getpid()

    def exit(self) -> None:
        import ray

        self.worker.close()
        ray.actor.exit_actor()


class RayReplica:
    """The head's handle on one ``ModelActor`` (a Replica of models/replicas.py)."""

    def __init__(self, actor: Any, name: str, sha256: str | None, capacity: int = 1) -> None:
        self.actor = actor
        self.max_capacity = capacity  # the most its worker may decode at once (PARALLEL)
        self.capacity = capacity  # what it decodes at once, once its worker has said
        self.name = name
        self.sha256 = sha256
        self.last_prompt: tuple[int, int] | None = None
        self.node: str | None = None
        self._status: tuple[float, dict[str, Any]] | None = None  # (when, what) last read

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        import ray

        rid = uuid.uuid4().hex
        refs = self.actor.stream.remote(rid, [dict(m) for m in messages], max_tokens)
        self.last_prompt = None
        cancelled = False
        try:
            for ref in refs:
                kind, value = ray.get(ref)
                if kind == "usage":
                    self.last_prompt = (int(value[0]), int(value[1]))
                elif not cancelled:
                    yield value
                if cancel is not None and cancel.is_set() and not cancelled:
                    self.actor.cancel.remote(rid)
                    cancelled = True
        except ray.exceptions.RayTaskError as exc:
            self._status = None  # its worker is restarting: ask afresh next time
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AssistantError):  # the actor's worker said why
                raise cause from None
            raise ModelCrashed(f"the model replica failed: {cause or exc}") from None
        except ray.exceptions.RayActorError as exc:
            self._status = None  # Ray restarts the actor: ask afresh next time
            raise ModelCrashed(
                "the model replica's process died while answering; Ray restarts it: "
                f"please ask again ({type(exc).__name__})"
            ) from None

    def status(self) -> dict[str, Any]:
        """The actor's worker status. The pool asks before every answer and a round trip to
        another node costs milliseconds to seconds, so "ready" is trusted for
        ``STATUS_TTL_S`` seconds (a failed stream forgets it); any other state is asked
        afresh each time, as it is about to change."""
        import ray

        cached = self._status
        if cached is not None and time.monotonic() - cached[0] < STATUS_TTL_S:
            return cached[1]
        try:
            st: dict[str, Any] = ray.get(self.actor.status.remote(), timeout=10)
        except ray.exceptions.RayActorError:
            st = {"model": self.name, "state": "restarting", "restarts": 0}
        except ray.exceptions.GetTimeoutError:
            st = {"model": self.name, "state": "starting", "restarts": 0}
        else:
            self.node = st.get("node")
            if st.get("capacity"):  # PARALLEL=auto: decided when its worker started
                self.capacity = min(int(st["capacity"]), self.max_capacity)
        self._status = (time.monotonic(), st) if st.get("state") == "ready" else None
        return st

    def load(self) -> None:
        import ray

        try:
            self.node = ray.get(self.actor.load.remote())
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AssistantError):
                raise cause from None
            raise ModelUnavailable(f"the model replica did not start: {cause or exc}") from None
        self.status()  # its capacity, as its worker reported it

    def count_tokens(self, text: str) -> int:
        import ray

        return int(ray.get(self.actor.count_tokens.remote(text)))

    def kill(self, sig: int = 9) -> None:
        """Send ``sig`` to the model worker inside the actor (tests: a crash on demand)."""
        import ray

        ray.get(self.actor.kill.remote(sig))

    def actor_pid(self) -> int:
        import ray

        return int(ray.get(self.actor.pid.remote(), timeout=60))

    def close(self) -> None:
        import ray

        if self.actor is None:
            return
        # stops its worker process first; it is gone already, or exited as asked
        with contextlib.suppress(Exception):
            ray.get(self.actor.exit.remote(), timeout=30)
        ray.kill(self.actor, no_restart=True)
        self.actor = None
        _OPEN.discard(id(self))
        if not _OPEN and _OWNED:  # the last replica of a connection this module made
            _OWNED.clear()
            ray.shutdown()


def ray_replicas(
    settings: Settings, spec: WorkerSpec, n: int
) -> tuple[list[RayReplica], list[str]]:
    """``n`` actors of ``spec`` spread over the cluster at ``settings.ray_address``, started
    (each loads and probes its model) before they are returned, with their labels."""
    import ray

    if not settings.ray_address:
        raise ModelUnavailable("REPLICA_BACKEND=ray needs RAY_ADDRESS (a Ray cluster)")
    if not ray.is_initialized():
        ray.init(address=settings.ray_address, logging_level=logging.ERROR, log_to_driver=False)
        _OWNED.add(True)
    remote = ray.remote(ModelActor).options(
        num_cpus=settings.threads,
        max_restarts=-1,
        max_concurrency=ACTOR_CONCURRENCY + max_parallel(settings),
        scheduling_strategy="SPREAD",
    )
    replicas = [
        RayReplica(remote.remote(spec, settings), spec.name, spec.sha256, max_parallel(settings))
        for _ in range(n)
    ]
    _OPEN.update(id(r) for r in replicas)
    for r in replicas:
        r.load()
    labels = [f"ray/{r.node}/{i}" for i, r in enumerate(replicas, 1)]
    return replicas, labels
