"""JSON and server-sent-event endpoints. Thin: each calls the answering service."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.response import Response, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from assistant.answering.queue import Ticket
from assistant.answering.service import (
    DoneEvent,
    Event,
    QueueEvent,
    SourcesEvent,
    TokenEvent,
    validate_question,
)
from assistant.auth.principal import Principal
from assistant.errors import AssistantError
from assistant.resources import Resources
from assistant.server.coalesce import coalesce_tokens
from assistant.server.errors import stream_error
from assistant.server.relay import relay


@dataclass
class AskRequest:
    question: str
    conversation_id: str | None = None


def admit_question(resources: Resources, principal: Principal) -> frozenset[str] | None:
    """Rate-limit the asker and return the collections they may read."""
    resources.access.question_limiter.hit(principal.user, "questions")
    return resources.access.visible_collections(principal)


class AskController(Controller):
    path = "/api"
    tags = ["ask"]

    @post(
        "/ask",
        status_code=200,
        sync_to_thread=True,
        summary="Ask a question; get a grounded, cited answer",
    )
    def ask(self, data: AskRequest, resources: Resources, principal: Principal) -> dict[str, Any]:
        collections = admit_question(resources, principal)
        answer = resources.answers.answer(
            data.question,
            conversation_id=data.conversation_id,
            user=principal.user,
            collections=collections,
        )
        return answer.to_dict()

    @post(
        "/ask/stream",
        status_code=200,
        summary="Ask, streamed as server-sent events: sources, tokens, done",
    )
    async def ask_stream(
        self, data: AskRequest, resources: Resources, principal: Principal
    ) -> ServerSentEvent:
        question = validate_question(data.question)
        collections = admit_question(resources, principal)
        ticket = resources.answers.queue.enter()  # a full queue is a 503 before streaming starts
        stream = resources.answers.stream
        interval_s = resources.settings.stream_interval_ms / 1000
        events = relay(
            lambda cancel: coalesce_tokens(
                stream(
                    question,
                    conversation_id=data.conversation_id,
                    cancel=cancel,
                    ticket=ticket,
                    user=principal.user,
                    collections=collections,
                ),
                interval_s,
            )
        )
        return ServerSentEvent(_sse(events, ticket))


def _message(event: Event) -> ServerSentEventMessage:
    if isinstance(event, SourcesEvent):
        return ServerSentEventMessage(
            event="sources", data=_json([s.to_dict() for s in event.sources])
        )
    if isinstance(event, QueueEvent):
        return ServerSentEventMessage(event="queue", data=_json({"position": event.position}))
    if isinstance(event, TokenEvent):
        return ServerSentEventMessage(event="token", data=_json({"text": event.text}))
    assert isinstance(event, DoneEvent)
    return ServerSentEventMessage(event="done", data=_json(event.answer.to_dict()))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _sse(
    events: AsyncGenerator[Event | Exception, None], ticket: Ticket
) -> AsyncIterator[ServerSentEventMessage]:
    """Relay the answer's events; a closed page stops generation at the next token."""
    try:
        async for item in events:
            if isinstance(item, Exception):
                code, detail = stream_error(item)
                yield ServerSentEventMessage(
                    event="error", data=_json({"error": code, "detail": detail})
                )
                break
            yield _message(item)
    finally:
        await events.aclose()
        ticket.release()


class HealthController(Controller):
    tags = ["health"]

    @get("/healthz", summary="Liveness: the process answers")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/readyz",
        sync_to_thread=True,
        summary="Readiness: index open, models verified, the model's worker and CPU mode",
    )
    def readyz(self, resources: Resources) -> Response[dict[str, Any]]:
        checks: dict[str, Any] = {}
        ready = True
        try:
            checks["index"] = resources.store.counts()
            _ = resources.embedder
            checks["embedder"] = "ok"
            checks["model"] = resources.settings.model
            status = getattr(resources.generator, "status", None)  # the model's worker
            if status is not None:
                worker = checks["model_worker"] = status()
                if worker["state"] == "failed":
                    ready, checks["error"] = False, worker.get("error", "the model failed")
        except AssistantError as exc:
            ready = False
            checks["error"] = exc.message
        return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
