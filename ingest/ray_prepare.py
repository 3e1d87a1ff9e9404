"""Distributed ingest: the next files are prepared on a Ray cluster, committed here.

``assistant ingest PATH… --ray ADDRESS`` (or the ``ray_address`` setting) gives the
Ingestor a ``RayPreparer``. The ingest loop (ingest/pipeline.py) is unchanged: it
checks each file, hashes it, de-duplicates by content hash, journals it and commits
it, one file at a time and in order, as the single writer. What moves is the work
between "seen" and "committed": detect, parse in an isolated child process, chunk and
embed run as one Ray task per file (ingest/remote.py), up to twice the cluster's CPUs
ahead of the loop (ingest/parsing/ahead.py), each task on one CPU, spread over the
nodes.

**Files travel as bytes through Ray's object store, not as paths on a shared folder.**
The writer reads each file anyway, to hash it; it reads it once more to send its bytes,
and the task checks them against that hash before parsing. So a worker parses exactly the bytes
whose hash becomes the document's id (with a shared folder the file could change
between the writer's hash and a worker's read), and nodes need no common mount at the
same path, nor read access to the documents at rest: only the project and its
verified models. The cost is one copy of each file over the network (files are capped
by ``max_file_mb``; at most twice the cluster's CPUs are in flight).

**A worker that dies mid-file costs a retry, never a lost or duplicated document.** A
task only computes: it writes nothing anywhere, so running it again is harmless. Ray
re-runs a task whose worker process or node died (``max_retries``; a reason about the
file -- corrupt, encrypted, a parser crash in its child process -- is an answer, not
a failure, and is never retried). When the retries are spent, or a node cannot build
the embedders (model not installed there), the writer prepares that file itself. Only
the writer commits, once per file, so nothing is indexed twice.

Nothing leaves the cluster: no ``runtime_env`` (nothing is packaged or fetched: each
node has the project and its models installed, and the weights are verified by
SHA-256 where they load); start every node with ``RAY_USAGE_STATS_ENABLED=0`` and
``--include-dashboard=false`` (docs/SCALING.md). Ray is an optional extra:
``pip install 'onprem-assistant[ray]'``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import ConfigError, EmbedderMismatch
from ingest.prepare import Prepared, RemoteFailed
from ingest.remote import PrepareSpec, Refusal

if TYPE_CHECKING:
    from assistant.settings import Settings

#: the task's name: its worker process shows as ``ray::assistant_prepare`` while it runs
TASK_NAME = "assistant_prepare"
#: re-runs of a task whose worker process or node died (Ray's default for tasks)
RETRIES = 3

Outcome = tuple[str, tuple[str, str | None], Prepared | Refusal]


def _prepare_task(
    spec: PrepareSpec, path: str, data: bytes, digest: str, collection: str
) -> Outcome:
    """On a worker: (this node's id, its embedders' names, the Prepared or the Refusal)."""
    import ray

    import assistant.offline  # noqa: F401  (before any model library loads)
    from ingest.remote import prepare_bytes, worker_preparer

    preparer = worker_preparer(spec)  # a node without the models fails here: RemoteFailed
    second = preparer.multilingual.name if preparer.multilingual is not None else None
    node = ray.get_runtime_context().get_node_id()
    return (
        node,
        (preparer.embedder.name, second),
        prepare_bytes(spec, path, data, digest, collection),
    )


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "ray_address is set but Ray is not installed",
            hint="pip install 'onprem-assistant[ray]', or unset ASSISTANT_RAY_ADDRESS",
        ) from None
    return ray


class RayPreparer:
    """Prepares files as Ray tasks on the cluster at ``address`` (a ``RemotePreparer``)."""

    def __init__(
        self,
        address: str,
        spec: PrepareSpec,
        *,
        embedder: str,
        multilingual: str | None,
        retries: int = RETRIES,
    ) -> None:
        self.address = address
        self.spec = spec
        self.names = (embedder, multilingual)  # the writer's: a worker must embed alike
        self.retries = retries
        self._owns = False
        self._task: Any = None
        self._workers = 0
        #: files prepared per node id (how the work spread)
        self.nodes: Counter[str] = Counter()

    def _connect(self) -> Any:
        """Join the cluster on first use (not when built: `assistant forget` with the
        setting on never needs it), and define the task."""
        if self._task is not None:
            return self._task
        ray = _ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    namespace="assistant-ingest",
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"cannot join the Ray cluster at {self.address}: {exc}",
                    hint="start it with `ray start --head` (docs/SCALING.md) or unset "
                    "ASSISTANT_RAY_ADDRESS",
                ) from None
            self._owns = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self._workers = max(1, cpus // max(1, self.spec.threads))
        self._task = ray.remote(_prepare_task).options(
            name=TASK_NAME,
            num_cpus=self.spec.threads,
            max_retries=self.retries,
            retry_exceptions=False,
            scheduling_strategy="SPREAD",
        )
        return self._task

    @property
    def workers(self) -> int:
        """Tasks the cluster runs at once (one CPU each)."""
        self._connect()
        return self._workers

    @classmethod
    def from_settings(
        cls, settings: Settings, embedder: str, multilingual: str | None
    ) -> RayPreparer:
        if not settings.ray_address:
            raise ConfigError("ray_address is not set")
        return cls(
            settings.ray_address,
            PrepareSpec.from_settings(settings),
            embedder=embedder,
            multilingual=multilingual,
        )

    def submit(self, path: Path, digest: str, collection: str) -> Future[Prepared]:
        """Start preparing ``path`` (whose bytes hash to ``digest``) on the cluster. The task
        hashes the bytes it gets (ingest/remote.py): the writer reads them only once more."""
        out: Future[Prepared] = Future()
        try:
            data = path.read_bytes()
        except OSError as exc:
            out.set_exception(exc)
            return out
        ref = self._connect().remote(self.spec, str(path), data, digest, collection)
        ref.future().add_done_callback(lambda done: self._arrived(out, done))
        return out

    def _arrived(self, out: Future[Prepared], done: Future[Outcome]) -> None:
        try:
            node, names, result = done.result()
        except Exception as exc:  # a lost worker with its retries spent, a node's set-up
            first = str(exc).strip().splitlines()[-1:] or [""]
            self._settle(out, RemoteFailed(f"{type(exc).__name__}: {first[0][:300]}"))
            return
        if isinstance(result, Refusal):
            self._settle(out, result.rebuild())
        elif names != self.names:
            self._settle(
                out,
                EmbedderMismatch(
                    f"a Ray worker embeds with {names}, this writer with {self.names}",
                    hint="install the same models on every node and give them the same "
                    "embedding settings",
                ),
            )
        else:
            self.nodes[node] += 1
            self._settle(out, result)

    @staticmethod
    def _settle(out: Future[Prepared], result: Prepared | BaseException) -> None:
        try:  # the loop may have dropped it meanwhile
            if isinstance(result, BaseException):
                out.set_exception(result)
            else:
                out.set_result(result)
        except InvalidStateError:
            pass

    def close(self) -> None:
        """Leave the cluster (if this joined it); tasks not taken are dropped with it."""
        if self._owns:
            _ray().shutdown()
        self._owns, self._task = False, None
