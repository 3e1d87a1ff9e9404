"""The load script, small: 5 signed-in users for 5 s against an in-process app with the stand-ins.

It checks that the bench code runs and that its verdicts work, not the speed
(figures come from ``make bench``). The second test fills the model queue first,
so every question must get the queue's 503 with a Retry-After.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answering.generator import EchoGenerator
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from tests.bench.load import Run, run_load
from tests.bench.load_report import render_markdown
from tests.bench.load_server import Server, inprocess_server, load_settings
from tests.conftest import MODELS
from tests.slow_generator import SlowGenerator


def test_five_users_for_five_seconds_run_green(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", models_dir_override=MODELS)
    resources = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        with inprocess_server(settings, resources, users=5) as server:
            result = run_load(server, users=5, seconds=5, drain_s=20)
    finally:
        resources.close()
    s = result.summary()
    assert result.healthy(), s.errors_seen + result.user_failures
    assert s.login_failures == 0 and s.latency["login"].n == 5
    assert s.latency["non-LLM"].n > 0 and s.latency["page"].n > 0
    assert s.answered > 0 and s.unfinished == 0
    assert s.rss_peak_mib is not None and s.rss_peak_mib > 0
    table = render_markdown([result])
    assert table.startswith("| figure | 5 users × 5 s |")
    assert "5xx and transport errors (target 0) | 0 |" in table


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        models_dir_override=MODELS,
        queue_max_waiting=1,
        retry_after_s=1,
    )
    resources = Resources(settings, embedder=HashEmbedder(), generator=SlowGenerator())
    holder = resources.answers.queue.enter()
    assert holder.poll(wait=0) == 0  # holds the model for the whole run
    waiting = resources.answers.queue.enter()  # and one waits: the queue is full
    try:
        with inprocess_server(settings, resources, users=2) as server:
            questions_only = {"question": (("/api/ask/stream",), 1, None)}
            result = run_load(server, users=2, seconds=2, drain_s=10, mix=questions_only)
    finally:
        waiting.release()
        holder.release()
        resources.close()
    s = result.summary()
    assert s.asked > 0 and s.busy == s.asked
    assert s.busy_without_retry_after == 0 and s.server_errors == 0
    assert result.healthy()


def test_only_loopback_is_a_target() -> None:
    server = Server("http://10.1.2.3:8000", 1, [], 16, 120.0, "elsewhere")
    with pytest.raises(ValueError, match="loopback"):
        Run(server, users=1, seconds=1)
