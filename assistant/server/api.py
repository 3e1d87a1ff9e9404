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
    AnswerService,
    DoneEvent,
    Event,
    QueueEvent,
    RetryEvent,
    SourcesEvent,
    TokenEvent,
    validate_question,
)
from assistant.auth.access import AccessControl
from assistant.auth.principal import Principal
from assistant.observability.readiness import Readiness
from assistant.server.coalesce import coalesce_tokens
from assistant.server.errors import stream_error
from assistant.server.relay import relay
from assistant.settings import Settings
from assistant.text.language import detect


@dataclass
class AskRequest:
    question: str
    conversation_id: str | None = None


class AskController(Controller):
    path = "/api"
    tags = ["ask"]

    @post(
        "/ask",
        status_code=200,
        sync_to_thread=True,
        summary="Ask a question; get a grounded, cited answer",
    )
    def ask(
        self,
        data: AskRequest,
        answers: AnswerService,
        access: AccessControl,
        principal: Principal,
    ) -> dict[str, Any]:
        collections = access.admit_question(principal)
        answer = answers.answer(
            data.question,
            conversation_id=data.conversation_id,
            user=principal.user,
            collections=collections,
        )
        return answer.to_dict()

    @post(
        "/ask/stream",
        status_code=200,
        summary="Ask, streamed as server-sent events: sources, tokens (retry), done",
    )
    async def ask_stream(
        self,
        data: AskRequest,
        answers: AnswerService,
        access: AccessControl,
        settings: Settings,
        principal: Principal,
    ) -> ServerSentEvent:
        question = validate_question(data.question)
        collections = access.admit_question(principal)
        ticket = answers.enter_queue()  # a full queue is a 503 before streaming starts
        stream = answers.stream
        interval_s = settings.stream_interval_ms / 1000
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
        return ServerSentEvent(_sse(events, ticket, detect(question)))


def _message(event: Event) -> ServerSentEventMessage:
    if isinstance(event, SourcesEvent):
        return ServerSentEventMessage(
            event="sources", data=_json([s.to_dict() for s in event.sources])
        )
    if isinstance(event, QueueEvent):
        return ServerSentEventMessage(event="queue", data=_json({"position": event.position}))
    if isinstance(event, TokenEvent):
        return ServerSentEventMessage(event="token", data=_json({"text": event.text}))
    if isinstance(event, RetryEvent):  # discard the text so far: the next model answers
        data = {"model": event.model, "from": event.previous, "reason": event.reason}
        return ServerSentEventMessage(event="retry", data=_json(data))
    assert isinstance(event, DoneEvent)
    return ServerSentEventMessage(event="done", data=_json(event.answer.to_dict()))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _sse(
    events: AsyncGenerator[Event | Exception, None], ticket: Ticket, language: str = "en"
) -> AsyncIterator[ServerSentEventMessage]:
    """Relay the answer's events; a closed page stops generation at the next token. An
    error's detail is in ``language``, the question's."""
    try:
        async for item in events:
            if isinstance(item, Exception):
                code, detail = stream_error(item, language)
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
    def readyz(self, readiness: Readiness) -> Response[dict[str, Any]]:
        ready, checks = readiness.check()
        return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
