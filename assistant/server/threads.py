"""The worker threads blocking work runs in: enough that waiting for the model blocks nobody else.

Three kinds of work share the event loop's default executor: Litestar's
``sync_to_thread`` handlers (sign-in, the review page, ``/api/ask``,
``/metrics``), the answer relay (server/relay.py) and ``asyncio.to_thread``.
Python sizes that pool at cores + 4 -- six threads on a 2-core server -- yet
up to ``queue_max_waiting + 1`` questions each hold a thread while they wait
for the one model. With the pool full of waiting questions, every sync page
queued behind the model: the load test measured the review page at 23 s
median with 100 users (tests/bench/load.py). Waiting threads cost no CPU,
so the pool is sized past the queue, with room for the other handlers.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

#: Threads beyond those the model queue can hold, for everything else.
SPARE_THREADS = 32


def pool_size(queue_max_waiting: int) -> int:
    return queue_max_waiting + 1 + SPARE_THREADS


def size_worker_pool(queue_max_waiting: int) -> None:
    """A startup hook: give the running loop a default executor larger than the model queue."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=pool_size(queue_max_waiting), thread_name_prefix="worker")
    )
