"""JSON and server-sent-event endpoints. Thin: each calls the answering service."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.response import Response, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from assistant.answering.service import (
    DoneEvent,
    Event,
    SourcesEvent,
    TokenEvent,
    validate_question,
)
from assistant.errors import AssistantError
from assistant.resources import Resources


@dataclass
class AskRequest:
    question: str
    conversation_id: str | None = None


def _conversation(data: AskRequest) -> str:
    return data.conversation_id or uuid.uuid4().hex


class AskController(Controller):
    path = "/api"
    tags = ["ask"]

    @post(
        "/ask",
        status_code=200,
        sync_to_thread=True,
        summary="Ask a question; get a grounded, cited answer",
    )
    def ask(self, data: AskRequest, resources: Resources) -> dict[str, Any]:
        answer = resources.answers.answer(data.question, conversation_id=_conversation(data))
        return answer.to_dict()

    @post(
        "/ask/stream",
        status_code=200,
        summary="Ask, streamed as server-sent events: sources, tokens, done",
    )
    async def ask_stream(self, data: AskRequest, resources: Resources) -> ServerSentEvent:
        question = validate_question(data.question)
        return ServerSentEvent(_sse(resources, question, _conversation(data)))


_END = object()


def _message(event: Event) -> ServerSentEventMessage:
    if isinstance(event, SourcesEvent):
        return ServerSentEventMessage(
            event="sources", data=_json([s.to_dict() for s in event.sources])
        )
    if isinstance(event, TokenEvent):
        return ServerSentEventMessage(event="token", data=_json({"text": event.text}))
    assert isinstance(event, DoneEvent)
    return ServerSentEventMessage(event="done", data=_json(event.answer.to_dict()))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _sse(
    resources: Resources, question: str, conversation_id: str
) -> AsyncIterator[ServerSentEventMessage]:
    """Run generation in a worker thread and relay its events; stop it if the client leaves."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone: the client left
            cancel.set()

    def work() -> None:
        try:
            for event in resources.answers.stream(
                question, conversation_id=conversation_id, cancel=cancel
            ):
                put(event)
        except Exception as exc:  # reported to the client as an error event
            put(exc)
        finally:
            put(_END)

    worker = loop.run_in_executor(None, work)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, Exception):
                code = item.code if isinstance(item, AssistantError) else "internal_error"
                detail = item.message if isinstance(item, AssistantError) else "internal error"
                yield ServerSentEventMessage(
                    event="error", data=_json({"error": code, "detail": detail})
                )
                break
            yield _message(item)  # type: ignore[arg-type]
    finally:
        cancel.set()  # a closed page stops generation at the next token
        del worker


class HealthController(Controller):
    tags = ["health"]

    @get("/healthz", summary="Liveness: the process answers")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True, summary="Readiness: index open and models verified")
    def readyz(self, resources: Resources) -> Response[dict[str, Any]]:
        checks: dict[str, Any] = {}
        ready = True
        try:
            checks["index"] = resources.store.counts()
            _ = resources.embedder
            checks["embedder"] = "ok"
            _ = resources.generator
            checks["model"] = resources.settings.model
        except AssistantError as exc:
            ready = False
            checks["error"] = exc.message
        return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
