"""The model queue: FIFO, bounded, 503 with Retry-After, timeouts, cancel on disconnect."""

from __future__ import annotations

import threading

import httpx
import pytest
from litestar.testing import TestClient

from assistant.answering.queue import ModelQueue, QueueFull
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import SAMPLE, add_user, open_collection
from tests.live import live_server
from tests.slow_generator import SlowGenerator


def test_tickets_are_admitted_in_arrival_order() -> None:
    q = ModelQueue(max_waiting=5)
    tickets = [q.enter() for _ in range(3)]
    assert [q.position(t) for t in tickets] == [1, 2, 3]
    assert tickets[1].poll(wait=0) == 2  # not its turn
    assert tickets[0].poll(wait=0) == 0  # admitted
    assert tickets[1].poll(wait=0.01) == 1
    tickets[0].release()
    assert tickets[2].poll(wait=0.01) == 2  # still behind ticket 1
    assert tickets[1].poll(wait=0) == 0
    tickets[1].release()
    assert tickets[2].poll(wait=0) == 0
    tickets[2].release()
    assert q.depth == 0 and q.served == 3


def test_two_slots_run_two_answers_and_keep_the_order_of_the_rest() -> None:
    q = ModelQueue(max_waiting=5, slots=2)
    tickets = [q.enter() for _ in range(4)]
    assert tickets[1].poll(wait=0) == 2  # the first in line goes first, even with a free slot
    assert tickets[0].poll(wait=0) == 0
    assert tickets[1].poll(wait=0) == 0  # the second slot
    assert q.running == 2 and tickets[2].poll(wait=0.01) == 1  # both slots taken
    assert [q.position(t) for t in tickets] == [0, 0, 1, 2]
    tickets[1].release()
    assert tickets[3].poll(wait=0) == 2  # still behind ticket 2
    assert tickets[2].poll(wait=0) == 0
    assert q.depth == 3 and q.running == 2
    for t in tickets:
        t.release()
    assert q.depth == 0 and q.served == 3 and q.running == 0
    with pytest.raises(ValueError):
        ModelQueue(slots=0)


def test_a_full_queue_refuses_at_once() -> None:
    q = ModelQueue(max_waiting=1, retry_after=7)
    first = q.enter()
    assert first.poll(wait=0) == 0  # holds the model
    q.enter()  # waits
    with pytest.raises(QueueFull) as info:
        q.enter()
    assert info.value.retry_after == 7 and info.value.status_code == 503


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    q = ModelQueue(max_waiting=2)
    holder, waiter = q.enter(), q.enter()
    assert holder.poll(wait=0) == 0
    cancel = threading.Event()
    cancel.set()
    assert waiter.poll(wait=0.01, cancel=cancel) == -1
    assert q.depth == 1


def _resources(settings: Settings, generator: SlowGenerator) -> tuple[Resources, dict[str, str]]:
    settings = settings.model_copy(update={"verify_grounding": False})  # synthetic text
    res = Resources(settings, embedder=HashEmbedder(), generator=generator)
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    return res, {"Authorization": f"Bearer {add_user(res)}"}


QUESTION = {"question": "Where is the fire assembly point?"}


def test_api_returns_503_with_retry_after_when_the_queue_is_full(
    tmp_path, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"queue_max_waiting": 1, "retry_after_s": 9})
    res, auth = _resources(settings, SlowGenerator())
    holder = res.answers.queue.enter()
    assert holder.poll(wait=0) == 0
    res.answers.queue.enter()  # one waiting: the queue is now full
    with TestClient(create_app(settings, res, warm_up=False)) as client:
        client.headers.update(auth)
        for path in ("/api/ask", "/api/ask/stream", "/v1/chat/completions"):
            body = (
                QUESTION
                if path.startswith("/api")
                else {"messages": [{"role": "user", "content": QUESTION["question"]}]}
            )
            r = client.post(path, json=body)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["retry-after"] == "9"
            assert r.json()["error"] == "busy"
        assert client.get("/healthz").status_code == 200  # other endpoints unaffected


def test_closing_the_stream_stops_generation_and_frees_the_model(settings: Settings) -> None:
    gen = SlowGenerator(tokens=400, delay=0.05)
    res, auth = _resources(settings, gen)
    with (
        live_server(create_app(settings, res, warm_up=False)) as base,
        httpx.Client(base_url=base, timeout=30, headers=auth) as client,
    ):
        with client.stream("POST", "/api/ask/stream", json=QUESTION) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break
        # the client is gone: generation must stop well before its 20 s of tokens
        assert gen.stopped.wait(10), "generation kept running after the client left"
        assert gen.emitted < 400
        assert res.answers.queue.depth == 0
        assert client.get("/healthz").status_code == 200


def test_other_endpoints_stay_fast_while_an_answer_generates(settings: Settings) -> None:
    gen = SlowGenerator(tokens=60, delay=0.05)
    res, auth = _resources(settings, gen)
    with live_server(create_app(settings, res, warm_up=False)) as base:
        result: dict[str, object] = {}

        def ask() -> None:
            result["r"] = httpx.post(
                f"{base}/api/ask", json=QUESTION, timeout=60, headers=auth
            ).json()

        t = threading.Thread(target=ask)
        t.start()
        assert gen.started.wait(10)
        r = httpx.get(f"{base}/healthz", timeout=2)  # answered while the model works
        assert r.status_code == 200
        assert not gen.stopped.is_set()
        t.join(60)
        assert "word0" in str(result["r"])


def test_a_ticket_nobody_polls_is_abandoned_and_does_not_block_the_queue() -> None:
    q = ModelQueue(max_waiting=1, abandon_after_s=0.05)
    leaked = q.enter()  # the client hung up before its stream started
    import time

    time.sleep(0.1)
    fresh = q.enter()  # would be QueueFull if the leaked ticket still counted
    assert fresh.poll(wait=0.01) == 0
    assert leaked.released
