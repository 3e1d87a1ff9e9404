"""Prometheus series for one app: HTTP, the model queue, answers, retrieval, ingest, the model.

Each ``create_app`` gets its own ``CollectorRegistry`` so apps built side by side
(the tests build many) never collide on series names. Counters and histograms
are fed by the request middleware (assistant/observability/requests.py), by the
server handlers (``observe_answer``) and by the inbox watcher's report hook;
gauges that mirror live state (queue depth, the loaded model, the index size)
are read at scrape time, so they are never stale and cost nothing in between.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from assistant import __version__
from assistant.domain import Answer

if TYPE_CHECKING:
    from assistant.settings import Settings
    from assistant.store.documents import Store
    from ingest.pipeline import IngestReport


class Resources(Protocol):
    """What the gauges read (assistant/resources.py's Resources), never building anything."""

    @property
    def settings(self) -> Settings: ...

    @property
    def generator_if_built(self) -> Any: ...

    @property
    def answers_if_built(self) -> Any: ...

    @property
    def store(self) -> Store: ...


log = logging.getLogger(__name__)

#: The classic text format every Prometheus understands (our names need no UTF-8 escaping);
#: Litestar appends the charset.
CONTENT_TYPE = "text/plain; version=0.0.4"
PREFIX = "assistant"
UNMATCHED_ROUTE = "unmatched"  # label for requests no route handled (404s): never the raw path

# Buckets sized for a CPU model: streams last seconds, retrieval milliseconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60)
TOKENS_PER_S_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300)
RETRIEVAL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1)
QUEUE_WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
#: an answer's timings between the question and its generation (``decode_rate``)
_BEFORE_GENERATION = ("embed_s", "retrieve_s", "context_s", "queue_s", "draft_s")

#: IngestReport list fields -> the ``outcome`` label of assistant_ingest_documents_total
INGEST_OUTCOMES = {
    "added": "added",
    "changed": "changed",
    "duplicates": "duplicate",
    "skipped": "skipped",
    "removed": "removed",
    "quarantined": "quarantined",
}


class Metrics:
    """The series of one app, in their own registry."""

    def __init__(self, resources: Resources | None = None, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from request to the last byte of the response (whole stream for SSE)",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            f"{PREFIX}_http_requests_in_flight", "Requests being handled now", registry=r
        )
        self.answers = Counter(
            f"{PREFIX}_answers", "Answers given, by outcome", ["outcome"], registry=r
        )
        self.ttft = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "From the question to the model's first token (queue wait included)",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens_per_s = Histogram(
            f"{PREFIX}_generation_tokens_per_second",
            "Decode speed of one answer: tokens after the first ÷ time after the first",
            buckets=TOKENS_PER_S_BUCKETS,
            registry=r,
        )
        self.retrieval = Histogram(
            f"{PREFIX}_retrieval_seconds",
            "Index search for one question (the query embedding excluded)",
            buckets=RETRIEVAL_BUCKETS,
            registry=r,
        )
        self.query_embedding = Histogram(
            f"{PREFIX}_query_embedding_seconds",
            "Embedding one question",
            buckets=RETRIEVAL_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            f"{PREFIX}_queue_wait_seconds",
            "Time a question waited for the model",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=r,
        )
        self.ingest_documents = Counter(
            f"{PREFIX}_ingest_documents",
            "Files seen by ingestion in this process, by outcome",
            ["outcome"],
            registry=r,
        )
        self.ingest_chunks = Counter(
            f"{PREFIX}_ingest_chunks", "Chunks indexed by this process", registry=r
        )
        self.quarantined = Counter(
            f"{PREFIX}_quarantined", "Files quarantined by this process", registry=r
        )
        for outcome in INGEST_OUTCOMES.values():  # present (at 0) before the first ingest
            self.ingest_documents.labels(outcome)
        for outcome in ("answered", "refused"):
            self.answers.labels(outcome)
        if resources is not None:
            r.register(StateCollector(resources))
        if process:  # RSS, CPU, open files of this process: what an operator checks first
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

    # -- observations ---------------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        """Record the timings the answering service put on a final answer."""
        t = answer.timings
        self.answers.labels("refused" if answer.refused else "answered").inc()
        if "embed_s" in t:
            self.query_embedding.observe(t["embed_s"])
        if "retrieve_s" in t:
            self.retrieval.observe(t["retrieve_s"])
        if "queue_s" in t:
            self.queue_wait.observe(t["queue_s"])
        if "first_token_s" in t:
            self.ttft.observe(t["first_token_s"])
        rate = decode_rate(t)
        if rate is not None:
            self.tokens_per_s.observe(rate)

    def observe_ingest(self, report: IngestReport) -> None:
        """Count one ingest batch (the inbox watcher's ``on_report`` hook)."""
        for field, outcome in INGEST_OUTCOMES.items():
            n = len(getattr(report, field))
            if n:
                self.ingest_documents.labels(outcome).inc(n)
        self.ingest_chunks.inc(report.chunks)
        self.quarantined.inc(len(report.quarantined))

    def render(self) -> bytes:
        """The text exposition format, as served at /metrics."""
        return generate_latest(self.registry)


def decode_rate(timings: dict[str, float]) -> float | None:
    """Tokens per second after the first token, from an answer's timings, or None.

    ``decode_s``, from the first piece to the last, is timed where the pieces arrive
    (answering/router.py). Without it (older records), the stages before generation bridge
    ``generate_s`` (prompt to last token) and ``first_token_s`` (question to first token),
    leaving out the router's set-up: an instant stand-in's rate could vanish under load.
    """
    tokens = timings.get("tokens", 0.0)
    if tokens >= 2 and timings.get("decode_s", 0.0) > 0:  # timed by the router itself
        return (tokens - 1) / timings["decode_s"]
    if tokens < 2 or "first_token_s" not in timings or "generate_s" not in timings:
        return None
    before = sum(timings.get(k, 0.0) for k in _BEFORE_GENERATION)
    prefill = timings["first_token_s"] - before  # prompt evaluation and the first token
    decode = timings["generate_s"] - prefill
    if decode <= 0:
        return None
    return (tokens - 1) / decode


class StateCollector(Collector):
    """Gauges read from the live resources at scrape time, never building anything heavy.

    Nothing here loads a model or the index: a scrape of a cold server must
    stay cheap, and an app that has not answered yet simply reports zero.
    """

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def collect(self) -> Iterator[Metric]:
        res = self.resources
        settings = res.settings
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Questions holding or waiting for the model"
        )
        built = res.answers_if_built  # the service exists once a question came in
        depth.add_metric([], built.queue.depth if built is not None else 0)
        yield depth
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_capacity",
            "Questions that may wait before a 503",
            value=settings.queue_max_waiting,
        )

        model = GaugeMetricFamily(
            f"{PREFIX}_model_info",
            "1 for the generation model serving this process, labelled with its SHA-256 and "
            "the llama.cpp CPU mode its worker runs in (extra, no-amx, plain; none: a stand-in)",
            labels=["model", "sha256", "cpu_mode"],
        )
        generator = res.generator_if_built
        if generator is not None and getattr(generator, "loaded", True):
            mode = getattr(generator, "cpu_mode", None) or "none"
            model.add_metric([generator.name, str(getattr(generator, "sha256", "")), mode], 1)
        yield model
        yield from _worker_metrics(generator)

        try:
            counts = res.store.counts()
            quarantine = sum(1 for _ in settings.quarantine_dir.glob("*.json"))
        except Exception as exc:  # a broken data dir shows in /readyz; the scrape goes on
            log.warning("index gauges unavailable: %s", exc)
        else:
            yield GaugeMetricFamily(
                f"{PREFIX}_index_documents",
                "Documents in the index (all processes)",
                value=counts.get("documents", 0),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_index_chunks",
                "Chunks in the index (all processes)",
                value=counts.get("chunks", 0),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_quarantine_files",
                "Quarantine entries on disk (all processes)",
                value=quarantine,
            )
        build = InfoMetricFamily(f"{PREFIX}_build", "The assistant's version")
        build.add_metric([], {"version": __version__})
        yield build


WORKER_STATES = ("stopped", "starting", "ready", "restarting", "failed")


def _worker_metrics(generator: object) -> Iterator[Metric]:
    """The model's worker process (assistant/models/supervisor.py): state and restarts."""
    status = getattr(generator, "status", None)
    if status is None:
        return
    st = status()
    state = GaugeMetricFamily(
        f"{PREFIX}_model_worker_state",
        "1 for the state the model's worker process is in",
        labels=["state"],
    )
    for name in WORKER_STATES:
        state.add_metric([name], 1 if st["state"] == name else 0)
    yield state
    restarts = CounterMetricFamily(
        f"{PREFIX}_model_worker_restarts", "Times the model's worker process crashed and restarted"
    )
    restarts.add_metric([], st["restarts"])
    yield restarts
