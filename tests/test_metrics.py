"""``/metrics``: the named series appear after real requests, labelled by route template."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from assistant.answering.generator import EchoGenerator
from assistant.models.embed import HashEmbedder
from assistant.observability.metrics import Metrics, decode_rate
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import SAMPLE

QUESTION = "Where is the fire assembly point?"


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:  # type: ignore[type-arg]
    """Sample name -> [(labels, value)], from the text format, parsed by prometheus-client."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    matches = [v for lab, v in samples.get(name, []) if labels.items() <= lab.items()]
    assert matches, f"{name}{labels} not exposed"
    return sum(matches)


@pytest.fixture
def client(resources: Resources, auth: dict[str, str]) -> Iterator[TestClient]:  # type: ignore[type-arg]
    resources.ingestor.ingest([SAMPLE], "sample")
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as c:
        c.headers.update(auth)
        yield c


def test_metrics_expose_the_named_series_after_requests(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.post("/api/ask/stream", json={"question": QUESTION}).status_code == 200
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    assert client.get("/").status_code == 200
    m = scrape(client)

    assert (
        value(
            m, "assistant_http_requests_total", route="/api/ask/stream", method="POST", status="200"
        )
        == 1
    )
    assert value(m, "assistant_http_requests_total", route="/", method="GET", status="200") == 1
    assert value(m, "assistant_http_request_duration_seconds_count", route="/api/ask") == 1
    # both doors (the stream in a relay thread, the JSON call in a worker thread) are seen
    assert value(m, "assistant_answers_total") == 2
    assert value(m, "assistant_time_to_first_token_seconds_count") == 2
    assert value(m, "assistant_generation_tokens_per_second_count") == 2
    assert value(m, "assistant_retrieval_seconds_count") == 2
    assert value(m, "assistant_query_embedding_seconds_count") == 2
    assert value(m, "assistant_queue_wait_seconds_count") == 2
    assert value(m, "assistant_queue_depth") == 0
    assert value(m, "assistant_queue_capacity") == 16
    assert value(m, "assistant_model_info", model="echo") == 1
    assert value(m, "assistant_index_documents") == 5
    assert value(m, "assistant_index_chunks") > 0
    for name in (
        "assistant_ingest_documents_total",
        "assistant_ingest_chunks_total",
        "assistant_quarantined_total",
        "assistant_quarantine_files",
        "process_resident_memory_bytes",
    ):
        assert name in m, name


def test_route_labels_are_templates_never_raw_paths(client: TestClient) -> None:  # type: ignore[type-arg]
    client.get("/no/such/page-12345")
    client.get("/static/app.css")
    text = client.get("/metrics").text
    assert "page-12345" not in text and "app.css" not in text
    m = scrape(client)
    assert value(m, "assistant_http_requests_total", route="unmatched", status="404") == 1
    assert value(m, "assistant_http_requests_total", route="/static/{file_path}", status="200") == 1


def test_each_app_has_its_own_registry(resources: Resources) -> None:
    first = create_app(resources.settings, resources, warm_up=False)
    second = create_app(resources.settings, resources, warm_up=False)
    with TestClient(first) as a, TestClient(second) as b:
        a.get("/healthz")
        a.get("/healthz")
        b.get("/healthz")
        assert value(scrape(a), "assistant_http_requests_total", route="/healthz") == 2
        assert value(scrape(b), "assistant_http_requests_total", route="/healthz") == 1


def test_metrics_can_be_switched_off(resources: Resources) -> None:
    settings = resources.settings.model_copy(update={"metrics_enabled": False})
    with TestClient(create_app(settings, resources, warm_up=False)) as c:
        assert c.get("/metrics").status_code == 404
        assert c.get("/healthz").status_code == 200


def test_ingest_reports_feed_the_ingest_counters(resources: Resources, sample_copy) -> None:  # type: ignore[no-untyped-def]
    """What the inbox watcher's report hook does, with a real ingest (one file quarantined)."""
    (sample_copy / "broken.pdf").write_bytes(b"%PDF-1.7 not really a pdf")
    report = resources.ingestor.ingest([sample_copy], "sample")
    metrics = Metrics(resources, process=False)
    metrics.observe_ingest(report)
    again = resources.ingestor.ingest([sample_copy], "sample")  # unchanged: skipped
    metrics.observe_ingest(again)
    samples = {
        (s.name, s.labels.get("outcome", "")): s.value
        for f in text_string_to_metric_families(metrics.render().decode())
        for s in f.samples
    }
    assert samples[("assistant_ingest_documents_total", "added")] == len(report.added) == 5
    assert samples[("assistant_quarantined_total", "")] == len(report.quarantined) == 1
    assert samples[("assistant_ingest_chunks_total", "")] == report.chunks > 0
    assert samples[("assistant_ingest_documents_total", "skipped")] == len(again.skipped) > 0
    assert samples[("assistant_quarantine_files", "")] == 1


def test_decode_rate_uses_the_time_after_the_first_token() -> None:
    timings = {
        "embed_s": 0.1,
        "retrieve_s": 0.1,
        "context_s": 0.0,
        "queue_s": 0.8,  # first token at 1.0 + 0.5 prefill
        "first_token_s": 1.5,
        "generate_s": 2.5,  # prefill 0.5, then 2.0 s for 20 more tokens
        "tokens": 21.0,
    }
    assert decode_rate(timings) == pytest.approx(10.0)
    assert decode_rate({"tokens": 1.0, "first_token_s": 1.0, "generate_s": 1.0}) is None
    assert decode_rate({"embed_s": 0.1, "total_s": 0.2}) is None  # refused before the model


def test_the_served_inbox_watcher_feeds_the_ingest_counters(settings: Settings) -> None:
    on = settings.model_copy(update={"watch_inbox": True, "watch_debounce_ms": 200})
    resources = Resources(on, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        with TestClient(create_app(on, resources, warm_up=False)) as client:
            doc = on.inbox_dir / "it" / "vpn.txt"
            doc.parent.mkdir(parents=True, exist_ok=True)
            doc.write_text("The VPN certificate is renewed every spring.")
            deadline = time.monotonic() + 60  # generous: a busy machine must not flake
            added = 0.0
            while added < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
                added = value(scrape(client), "assistant_ingest_documents_total", outcome="added")
            assert added == 1
            assert value(scrape(client), "assistant_ingest_chunks_total") >= 1
    finally:
        resources.close()


def test_the_decode_rate_is_timed_where_the_pieces_arrive() -> None:
    # the router times the pieces itself: stages that take longer than an instant
    # stand-in's whole answer no longer make its rate vanish
    timings = {"tokens": 5.0, "decode_s": 0.5, "first_token_s": 9.0, "generate_s": 0.1}
    assert decode_rate(timings) == 8.0
    assert decode_rate({"tokens": 1.0, "decode_s": 0.5}) is None
