"""Several copies of one model behind one Generator: a question goes to the next free one.

``REPLICAS`` > 1 starts that many model workers (models/model_worker.py), each its own
supervised process with its own llama.cpp context: on one machine they share the
GGUF's pages (llama.cpp maps the file) and split the cores (``THREADS`` is divided
among them). :class:`ReplicaPool` is the Generator the answering service sees. The
fair queue in front (answering/queue.py) admits as many answers as the pool has
``capacity``; each stream then takes the replica with the most room (a replica that
decodes several sequences at once has ``capacity`` > 1), in order of preference
ready → starting → restarting. A replica whose worker died is restarted by its own
supervisor while the others go on answering; one that is refused (crash loop, bad
weights) is passed over while another can serve. ``last_replica`` names the replica
that gave the calling thread's last answer: the audit record keeps it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from assistant.errors import ModelUnavailable

#: A replica's worker states, best first (models/supervisor.py): "failed" serves no one.
_PREFERENCE = {"ready": 0, "starting": 1, "stopped": 2, "restarting": 3}


class Replica(Protocol):
    """A model worker as the pool uses it (models/model_worker.ModelWorker)."""

    name: str

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]: ...

    def status(self) -> dict[str, Any]: ...

    def kill(self, sig: int = 9) -> None: ...

    def close(self) -> None: ...


class ReplicaPool:
    """One model served by ``replicas`` (named ``labels``), a stream to the freest one."""

    def __init__(self, replicas: Sequence[Replica], labels: Sequence[str] | None = None) -> None:
        if not replicas:
            raise ValueError("a replica pool needs at least one replica")
        self.replicas = list(replicas)
        self.labels = list(labels or (f"local/{i}" for i in range(1, len(replicas) + 1)))
        if len(self.labels) != len(self.replicas):
            raise ValueError("one label per replica")
        self.name = self.replicas[0].name
        self.sha256 = getattr(self.replicas[0], "sha256", None)
        self._busy = [0] * len(self.replicas)
        self._cond = threading.Condition()
        self._local = threading.local()

    # -- capacity and choice --------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Answers the pool can decode at once: the queue admits as many."""
        return sum(_capacity(r) for r in self.replicas)

    def _room(self, i: int) -> int:
        return _capacity(self.replicas[i]) - self._busy[i]

    def _pick(self, cancel: threading.Event | None) -> int | None:
        while True:
            if cancel is not None and cancel.is_set():
                return None
            # read outside the lock: a remote replica's status is a round trip (cached)
            states = [r.status().get("state", "ready") for r in self.replicas]
            with self._cond:
                open_ = [i for i, s in enumerate(states) if s != "failed" and self._room(i) > 0]
                if open_:
                    i = min(open_, key=lambda i: (_PREFERENCE.get(states[i], 9), -self._room(i)))
                    self._busy[i] += 1
                    return i
                if all(s == "failed" for s in states):
                    return 0  # every replica refused: the first one says why
                self._cond.wait(0.25)  # all busy (the queue admits no more than capacity)

    def _free(self, i: int) -> None:
        with self._cond:
            self._busy[i] -= 1
            self._cond.notify_all()

    # -- the Generator ------------------------------------------------------------------
    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        i = self._pick(cancel)
        if i is None:
            return
        replica = self.replicas[i]
        self._local.replica = self.labels[i]
        self._local.prompt = None
        try:
            first = True
            for piece in replica.stream(messages, max_tokens=max_tokens, cancel=cancel):
                if first:
                    self._local.prompt = getattr(replica, "last_prompt", None)
                    first = False
                yield piece
        finally:
            self._free(i)

    @property
    def last_replica(self) -> str | None:
        """The replica that gave this thread's current or last answer."""
        return getattr(self._local, "replica", None)

    @property
    def last_prompt(self) -> tuple[int, int] | None:
        """(prompt tokens, reused from the KV cache) of this thread's current/last answer."""
        return getattr(self._local, "prompt", None)

    def count_tokens(self, text: str) -> int:
        i = self._pick(None)
        assert i is not None
        try:
            count = getattr(self.replicas[i], "count_tokens", None)
            if count is None:
                raise ModelUnavailable("this model has no tokenizer to count with")
            return int(count(text))
        finally:
            self._free(i)

    # -- what the operator sees ------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The best replica's status (the model serves while one does), every replica's
        under ``replicas``, and the restarts of all of them."""
        each = [
            {"replica": label, **r.status()}
            for label, r in zip(self.labels, self.replicas, strict=True)
        ]
        best = min(each, key=lambda s: _PREFERENCE.get(s.get("state", "failed"), 9))
        return {
            **best,
            "restarts": sum(s.get("restarts", 0) for s in each),
            "replicas": each,
        }

    @property
    def loaded(self) -> bool:
        return self.status()["state"] == "ready"

    @property
    def cpu_mode(self) -> Any:
        return self.status().get("cpu_mode")

    @property
    def on_event(self) -> Any:
        return getattr(self.replicas[0], "on_event", None)

    def load(self) -> None:
        """Start every replica and wait until each serves (or fails)."""
        errors = []
        for r in self.replicas:
            load = getattr(r, "load", None)
            if load is not None:
                try:
                    load()
                except ModelUnavailable as exc:
                    errors.append(exc)
        if len(errors) == len(self.replicas):
            raise errors[0]

    def kill(self, sig: int = 9, replica: int = 0) -> None:
        """Send ``sig`` to one replica's worker (tests: a crash on demand)."""
        self.replicas[replica].kill(sig)

    def close(self) -> None:
        for r in self.replicas:
            r.close()


def replica_threads(settings: Any, replicas: int) -> dict[str, int | None]:
    """The llama.cpp threads of each of ``replicas``: THREADS (and THREADS_BATCH) shared
    out, at least one each. On a 2-core box, two replicas decode with one core each."""
    batch = settings.threads_batch
    return {
        "threads": max(1, settings.threads // replicas),
        "threads_batch": None if batch is None else max(1, batch // replicas),
    }


def _capacity(replica: object) -> int:
    return max(1, int(getattr(replica, "capacity", 1)))
