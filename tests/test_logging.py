"""Logs are JSON lines carrying the request id, and hold no question or answer text by default."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from assistant.answering.prompt import Message
from assistant.models.embed import HashEmbedder
from assistant.observability.logging import configure_logging
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import REPO, SAMPLE, add_user, open_collection
from tests.live import free_port

MARKER = "purple-elephant-7"
QUESTION = f"Where is the fire assembly point, {MARKER}?"
ANSWER = "The assembly point is the staff car park on Harrow Lane [1]"


class TalkativeGenerator:
    """A stand-in model that logs from the worker thread generation runs in."""

    name = "talkative"

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        logging.getLogger("tests.talkative").info("generating from %d messages", len(messages))
        for word in ANSWER.split(" "):
            yield word + " "


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, as configure_logging renders it."""
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("DEBUG", stream=buf)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def _client(settings: Settings) -> tuple[TestClient, Resources]:  # type: ignore[type-arg]
    settings = settings.model_copy(update={"verify_grounding": False})  # synthetic text
    res = Resources(settings, embedder=HashEmbedder(), generator=TalkativeGenerator())
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    client = TestClient(create_app(settings, res, warm_up=False))
    client.headers["Authorization"] = f"Bearer {add_user(res)}"
    return client, res


def test_logs_are_json_lines_with_the_request_id(settings: Settings, logs: io.StringIO) -> None:
    client, res = _client(settings)
    with client:
        r = client.post(
            "/api/ask/stream", json={"question": QUESTION}, headers={"X-Request-ID": "req-42.a"}
        )
        assert r.status_code == 200 and "event: done" in r.text
        assert r.headers["x-request-id"] == "req-42.a"
    res.close()
    records = lines(logs)  # every line parses as JSON
    mine = [x for x in records if x.get("request_id") == "req-42.a"]
    events = {x["event"] for x in mine}
    # the access line, the answer line and a stdlib line from the generation thread
    assert "request" in events and "answer" in events
    assert "generating from 2 messages" in events
    access = next(x for x in mine if x["event"] == "request")
    assert access["route"] == "/api/ask/stream" and access["status"] == 200
    assert access["logger"] == "assistant.http" and access["level"] == "info"
    assert {"timestamp", "duration_ms"} <= access.keys()
    answer = next(x for x in mine if x["event"] == "answer")
    assert answer["refused"] is False and answer["tokens"] > 0 and "first_token_s" in answer


@pytest.mark.parametrize("sent", ["x" * 200, "two words", "", "-leading-dash"])
def test_an_unsafe_request_id_is_replaced(
    resources: Resources, auth: dict[str, str], logs: io.StringIO, sent: str
) -> None:
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        r = client.get("/healthz", headers={"X-Request-ID": sent})
    echoed = r.headers["x-request-id"]
    assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0
    access = [x for x in lines(logs) if x["event"] == "request"]
    assert [x["request_id"] for x in access] == [echoed]


def test_questions_and_answers_stay_out_of_the_logs(settings: Settings, logs: io.StringIO) -> None:
    client, res = _client(settings)
    with client:
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
        assert client.post("/api/ask/stream", json={"question": QUESTION}).status_code == 200
    res.close()
    text = logs.getvalue()
    assert '"event": "answer"' in text  # the answers were logged ...
    assert MARKER not in text and "staff car park" not in text  # ... without their texts


def test_log_content_puts_the_texts_in(settings: Settings, logs: io.StringIO) -> None:
    client, res = _client(settings.model_copy(update={"log_content": True}))
    with client:
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    res.close()
    answer = next(x for x in lines(logs) if x["event"] == "answer")
    assert MARKER in answer["question"] and "staff car park" in answer["answer"]


def test_serve_writes_only_json_lines_uvicorn_included(tmp_path: Path) -> None:
    """``assistant serve`` as operators run it: uvicorn's lines and ours, one JSON each."""
    port = free_port()
    (tmp_path / "models").mkdir()  # no models: warm-up fails, and says so as JSON
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")},
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_MODELS_DIR": str(tmp_path / "models"),
    }
    err = tmp_path / "stderr.log"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli.main", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    r = httpx.get(
                        f"http://127.0.0.1:{port}/nope", headers={"X-Request-ID": "serve-1"}
                    )
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, err.read_text()
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
            assert r.status_code == 404 and r.headers["x-request-id"] == "serve-1"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    records = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    assert any(x["logger"] == "uvicorn.error" and "Uvicorn running" in x["event"] for x in records)
    assert any(x.get("request_id") == "serve-1" and x["status"] == 404 for x in records)
    assert any(x["event"] == "warm-up failed" and "Traceback" in x["exception"] for x in records)
