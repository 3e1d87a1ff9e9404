"""Questions waiting for the model must not starve the synchronous handlers of threads.

Each waiting question holds a worker thread. They used to share Python's default
pool (cores + 4 threads) with the sync handlers, so with more questions waiting
than that a sync handler (here /metrics) waited for the model; they now run in
their own pool, sized past the queue (server/threads.py).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.server.threads import pool_size
from assistant.settings import Settings
from tests.conftest import SAMPLE, add_user, open_collection
from tests.live import live_server
from tests.slow_generator import SlowGenerator

WAITING = 8  # more than the default pool of a 2-core machine (6)


def test_a_sync_handler_answers_while_the_queue_is_full(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"queue_max_waiting": WAITING, "request_timeout_s": 120.0}
    )
    assert pool_size(WAITING) > WAITING + 1
    res = Resources(settings, embedder=HashEmbedder(), generator=SlowGenerator())
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    auth = {"Authorization": f"Bearer {add_user(res)}"}
    holder = res.answers.queue.enter()
    assert holder.poll(wait=0) == 0  # the model stays busy: every question waits
    try:
        with live_server(create_app(settings, res, warm_up=False)) as url:
            status, body = asyncio.run(_scrape_while_waiting(url, auth, res))
        assert status == 200
        assert f"assistant_queue_depth {WAITING + 1}.0" in body
    finally:
        holder.release()
        res.close()


async def _scrape_while_waiting(url: str, auth: dict[str, str], res: Resources) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as client:

        async def ask() -> None:
            body = {"question": "Where is the fire assembly point?"}
            async with client.stream("POST", "/api/ask/stream", json=body) as r:
                async for _ in r.aiter_lines():
                    pass

        asking = [asyncio.create_task(ask()) for _ in range(WAITING)]
        deadline = time.monotonic() + 60
        while res.answers.queue.depth < WAITING + 1:
            assert time.monotonic() < deadline, "the questions did not reach the queue"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let their worker threads start waiting
        try:
            r = await client.get("/metrics", timeout=20)  # hung until a question ended before
            return r.status_code, r.text
        finally:
            for task in asking:
                task.cancel()
            await asyncio.gather(*asking, return_exceptions=True)
