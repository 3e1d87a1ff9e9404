"""The real GGUF model in its worker process: killed with SIGSEGV in the middle of an
answer, the server stays up, says so, and answers the next question."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from assistant.models.catalog import get_spec
from assistant.models.embed import HashEmbedder
from assistant.models.install import installed_path
from assistant.models.model_worker import ModelWorker
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import MODELS, SAMPLE, TEST_MODEL, add_user, open_collection
from tests.test_api import _sse

pytestmark = pytest.mark.slow
QUESTION = "How many days of paid annual leave do full-time employees get?"


def test_a_segfault_in_the_real_model_costs_one_answer(tmp_path: Path) -> None:
    if not installed_path(get_spec(TEST_MODEL), MODELS).exists():
        pytest.fail(f"model {TEST_MODEL} is not installed in {MODELS}: run `make test`")
    settings = Settings(
        data_dir=tmp_path / "data", models_dir_override=MODELS, model=TEST_MODEL,
        min_score=0.25, model_restart_backoff_s=0.1,
    )  # fmt: skip
    res = Resources(settings, embedder=HashEmbedder())
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    token = add_user(res)
    with TestClient(create_app(settings, res, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        worker = res.generator
        assert isinstance(worker, ModelWorker)
        res.answers.warm_up()  # as the server's warm-up: starts the worker, caches the prompt
        ready = client.get("/readyz").json()
        assert ready["ready"] and ready["checks"]["model_worker"]["cpu_mode"] in (
            "extra", "no-amx", "plain")  # fmt: skip

        def kill_in_flight() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if worker.in_flight:
                    worker.kill(signal.SIGSEGV)
                    return
                time.sleep(0.002)

        killer = threading.Thread(target=kill_in_flight)
        killer.start()
        events = _sse(client.post("/api/ask/stream", json={"question": QUESTION}).text)
        killer.join()
        assert events[-1][0] == "error", events
        assert events[-1][1]["error"] == "model_crashed"  # type: ignore[index]

        r = client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 200, r.text
        assert r.json()["answer"].strip()
        assert worker.status()["restarts"] == 1
        kinds = [rec.kind for rec in res.audit.records()]
        assert "answer_failed" in kinds and kinds.count("model_worker") >= 3
    res.close()
