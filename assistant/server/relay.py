"""Run a blocking event iterator (generation) in a worker thread and relay it to async code.

The event loop stays free for other requests while the model works. When the
consumer stops early (the client closed the page), the ``cancel`` event is
set and generation stops at its next token.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import TypeVar

from assistant.server.threads import answer_pool

T = TypeVar("T")
_END = object()


async def relay(
    produce: Callable[[threading.Event], Iterable[T]],
) -> AsyncGenerator[T | Exception, None]:
    """Yield what ``produce(cancel)`` yields; an exception it raises is yielded, then the end."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone
            cancel.set()

    def work() -> None:
        try:
            for item in produce(cancel):
                put(item)
                if cancel.is_set():
                    break
        except Exception as exc:  # handed to the consumer to report
            put(exc)
        finally:
            put(_END)

    # in the answer pool (server/threads.py), in the request's context (its log lines carry
    # the request id)
    worker = loop.run_in_executor(answer_pool(), contextvars.copy_context().run, work)
    try:
        while (item := await queue.get()) is not _END:
            yield item  # type: ignore[misc]
    finally:
        cancel.set()
        del worker
