"""The threads answers are generated in: their own pool, sized past the model queue.

A streamed answer runs in a worker thread (server/relay.py) from the moment it
enters the model queue, so up to ``queue_max_waiting + 1`` of them hold a
thread while they wait for the one model. They used to share the event loop's
default executor -- cores + 4 threads, six on a 2-core server -- with every
synchronous handler (sign-in, the review page, ``/metrics``): with six
questions waiting, those pages queued behind the model (the load test
measured the review page at a 23 s median with 100 users). Waiting threads
cost no CPU, so answers get a pool of their own, larger than the queue.

The default executor is left as it is on purpose: it also bounds how many
argon2 sign-ins (64 MiB each) run at once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

#: Threads beyond those the queue can hold: refusals and the end of cancelled streams.
SPARE_THREADS = 4
DEFAULT_QUEUE = 16

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size = 0


def pool_size(queue_max_waiting: int) -> int:
    return queue_max_waiting + 1 + SPARE_THREADS


def size_answer_pool(queue_max_waiting: int) -> ThreadPoolExecutor:
    """Make the answer pool fit a queue of ``queue_max_waiting`` (``create_app`` calls it)."""
    global _pool, _size
    size = pool_size(queue_max_waiting)
    with _lock:
        if _pool is None or _size != size:
            old, _pool, _size = (
                _pool,
                ThreadPoolExecutor(max_workers=size, thread_name_prefix="answer"),
                size,
            )
            if old is not None:
                old.shutdown(wait=False)  # its running answers finish; it takes no new ones
        return _pool


def answer_pool() -> ThreadPoolExecutor:
    """The pool streamed answers run in."""
    with _lock:
        pool = _pool
    return pool if pool is not None else size_answer_pool(DEFAULT_QUEUE)
