"""Per-request observability: request id, one access-log line, HTTP metrics, answer hook.

``RequestObservability`` wraps the app's whole ASGI handler, *before*
routing: Litestar's own middleware runs after routing, so 404s and routing
errors would go uncounted and without a request id. After the inner app has
run, the router has left the route template in ``scope["path_template"]``;
that template (``/api/ask``), never the raw path, labels the metrics.

The middleware also puts the app's ``AppObserver`` in a contextvar. The
answering service tells its observers of every final answer (resources.py
registers ``observe_done``), in whatever thread produced it; the contextvar
follows the request there (relay.py and the thread pools copy the context),
so the answer reaches the right app's metrics, and outside a request (the
CLI) the call does nothing.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from assistant.domain import Answer
from assistant.observability.logging import get_logger, request_id_from
from assistant.observability.metrics import UNMATCHED_ROUTE, Metrics

if TYPE_CHECKING:
    from assistant.answering.service import DoneEvent

REQUEST_ID_HEADER = "x-request-id"
#: Routes polled by machines: their access lines are DEBUG, not INFO, to keep logs readable.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = get_logger("assistant.http")
answer_log = get_logger("assistant.answers")


@dataclass(frozen=True, slots=True)
class AppObserver:
    """What one app observes with: its metrics (None: disabled) and whether to log texts."""

    metrics: Metrics | None
    log_content: bool = False


_current: contextvars.ContextVar[AppObserver | None] = contextvars.ContextVar(
    "assistant_observer", default=None
)


def observe_done(user: str, done: DoneEvent) -> None:
    """An ``AnswerService`` observer: the final answer of a question, seen by this request."""
    observe_answer(done.answer)


def observe_answer(answer: Answer) -> None:
    """Record a final answer's timings and log it -- without its texts unless ``log_content``."""
    observer = _current.get()
    if observer is None:
        return
    if observer.metrics is not None:
        observer.metrics.observe_answer(answer)
    fields: dict[str, Any] = {
        "refused": answer.refused,
        "model": answer.model,  # with a draft model: the one that had the last word
        "citations": len(answer.citations),
        **{k: round(v, 4) for k, v in answer.timings.items()},
    }
    if observer.log_content:
        fields.update(question=answer.question, answer=answer.answer)
    answer_log.info("answer", **fields)


class RequestObservability:
    """ASGI wrapper: binds a request id, echoes it, times and counts the request, logs it."""

    def __init__(self, app: Any, observer: AppObserver) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = request_id_from(incoming)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        observer_token = _current.set(self.observer)
        metrics = self.observer.metrics
        status = 500  # if the app dies before it answers
        echo = (REQUEST_ID_HEADER.encode(), request_id.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []), echo]}
            await send(message)

        started = time.perf_counter()
        if metrics is not None:
            metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED_ROUTE
            method = scope.get("method", "")
            if metrics is not None:
                metrics.http_in_flight.dec()
                metrics.observe_request(route, method, status, seconds)
            level = "debug" if route in QUIET_ROUTES and status < 400 else "info"
            getattr(access_log, level)(
                "request",
                method=method,
                route=route,
                path=scope.get("path", ""),  # the path only: a query string may hold anything
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            _current.reset(observer_token)
            structlog.contextvars.reset_contextvars(**tokens)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
                return None
    return None
