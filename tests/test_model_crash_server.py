"""A crash of the model's worker process never takes the web server down.

The server runs the real worker process (with a deterministic generator); the test
kills it in the middle of a streamed answer and checks what the user, /readyz,
/metrics and the audit log see, and that the next question is answered.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from assistant.models.embed import HashEmbedder
from assistant.models.model_worker import ModelWorker
from assistant.models.supervisor import Supervisor
from assistant.models.worker import WorkerSpec
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import SAMPLE, add_user, open_collection
from tests.test_api import _sse

QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[TestClient, Resources, ModelWorker]]:  # type: ignore[type-arg]
    spec = WorkerSpec("step", "ab" * 32, "extra", "tests.worker_generators:StepGenerator",
                      {"tokens": 60, "delay": 0.05})  # fmt: skip
    worker = ModelWorker(Supervisor(spec, modes=["extra"], backoff_s=0.05, start_timeout_s=30))
    settings = settings.model_copy(update={"verify_grounding": False})  # synthetic text
    res = Resources(settings, embedder=HashEmbedder(), generator=worker)
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    token = add_user(res)
    with TestClient(create_app(settings, res, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, res, worker
    res.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_crash_mid_answer_is_an_error_event_audited_and_the_next_question_is_answered(
    served: tuple[TestClient, Resources, ModelWorker],  # type: ignore[type-arg]
    sig: int,
) -> None:
    client, res, worker = served
    worker.load()
    assert client.get("/readyz").json()["checks"]["model_worker"]["cpu_mode"] == "extra"
    first_pid = worker.pid

    def kill_when_answering() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and worker.status()["state"] == "ready":
            if worker.in_flight:
                time.sleep(0.3)  # a few tokens in
                worker.kill(sig)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_answering)
    killer.start()
    r = client.post("/api/ask/stream", json={"question": QUESTION})
    killer.join()
    events = _sse(r.text)
    kinds = [k for k, _ in events]
    assert "token" in kinds and "done" not in kinds
    kind, error = events[-1]
    assert kind == "error" and error["error"] == "model_crashed"  # type: ignore[index]
    assert signal.Signals(sig).name in error["detail"]  # type: ignore[index]

    ready = client.get("/readyz").json()  # the server is up and says what happened
    assert ready["checks"]["model_worker"]["last_exit"] == f"killed by {signal.Signals(sig).name}"

    r = client.post("/api/ask", json={"question": QUESTION})  # the worker is back
    assert r.status_code == 200 and r.json()["answer"].startswith("word0")
    assert worker.pid != first_pid and worker.status()["restarts"] == 1

    metrics = client.get("/metrics").text
    assert 'assistant_model_worker_state{state="ready"} 1.0' in metrics
    assert "assistant_model_worker_restarts_total 1.0" in metrics
    assert 'cpu_mode="extra"' in metrics

    records = list(res.audit.records())
    failed = [r for r in records if r.kind == "answer_failed"]
    assert len(failed) == 1 and failed[0].actor == "alice"
    assert failed[0].data["error"] == "model_crashed"
    phases = [r.data["phase"] for r in records if r.kind == "model_worker"]
    assert phases == ["started", "crashed", "started"]
    crashed = next(r for r in records if r.kind == "model_worker" and r.data["phase"] == "crashed")
    assert crashed.data["in_flight"] is True and crashed.data["cpu_mode"] == "extra"
    assert res.audit.verify().ok


def test_a_model_that_cannot_load_makes_readyz_say_why(settings: Settings) -> None:
    spec = WorkerSpec("step", None, "extra", "tests.worker_generators:StepGenerator",
                      {"fail_load": "truncated GGUF"})  # fmt: skip
    worker = ModelWorker(Supervisor(spec, modes=["extra", "plain"], start_timeout_s=30))
    res = Resources(settings, embedder=HashEmbedder(), generator=worker)
    open_collection(res)
    token = add_user(res)
    res.ingestor.ingest([SAMPLE], "sample")
    with TestClient(create_app(settings, res, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        r = client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 503 and "truncated GGUF" in r.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "truncated GGUF" in ready.json()["checks"]["error"]
    res.close()


def test_a_truncated_gguf_is_refused_before_any_process_loads_it(tmp_path: Path) -> None:
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 4096)  # a GGUF header, cut short
    settings = Settings(data_dir=tmp_path / "data", model="smollm2-135m", model_path=bad)
    res = Resources(settings, embedder=HashEmbedder())
    open_collection(res)
    token = add_user(res)
    res.ingestor.ingest([SAMPLE], "sample")
    with TestClient(create_app(settings, res, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "SHA-256 mismatch" in ready.json()["checks"]["error"]
        r = client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 503 and "SHA-256 mismatch" in r.text
        assert res.generator_if_built is None  # no worker was started for it
    res.close()
