"""An OpenAI-compatible surface over the same grounded pipeline.

``POST /v1/chat/completions`` (plain and streamed) and ``GET /v1/models``,
enough for the official ``openai`` client and the tools built on it. The
last user message is the question; earlier turns feed follow-up rewriting.
Citations travel in an extra ``citations`` field (and as ``[n]`` in the text).

With a chain of models (``draft_model``, answering/router.py) the content is only ever
the answer of the model that had the last word: a streamed response holds a draft's
text back until that draft is accepted (then sends it at once) or replaced (then drops
it), and streams the last model of the chain as it comes (held back too when a withheld
answer is asked again, ``regenerate_withheld``: its first answer may be replaced).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

from litestar import Controller, get, post
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from assistant.answering.conversations import Turn
from assistant.answering.queue import Ticket
from assistant.answering.service import (
    AnswerService,
    DoneEvent,
    Event,
    RetryEvent,
    TokenEvent,
    validate_question,
)
from assistant.auth.access import AccessControl
from assistant.auth.principal import Principal
from assistant.errors import InvalidQuestion
from assistant.server.errors import stream_error
from assistant.server.relay import relay
from assistant.settings import Settings
from assistant.text.language import detect


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": "..."}]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_messages(messages: Any) -> tuple[str, list[Turn]]:
    """The question (last user message) and the earlier user/assistant turns."""
    if not isinstance(messages, list) or not messages:
        raise InvalidQuestion("messages must be a non-empty list")
    turns: list[Turn] = []
    pending: str | None = None
    question: str | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidQuestion("each message must be an object with role and content")
        role, text = m.get("role"), _text(m.get("content"))
        if role == "user":
            if i == len(messages) - 1:
                question = text
            else:
                pending = text
        elif role == "assistant" and pending is not None:
            turns.append(Turn(pending, pending, text))
            pending = None
    if question is None:
        raise InvalidQuestion("the last message must come from the user")
    return validate_question(question), turns


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai"]

    @get("/models", summary="The model that answers (OpenAI-compatible)")
    async def models(self, settings: Settings, principal: Principal) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": settings.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "local",
                }
            ],
        }

    @post(
        "/chat/completions", status_code=200, summary="Grounded chat completion (OpenAI-compatible)"
    )
    async def chat_completions(
        self,
        data: dict[str, Any],
        answers: AnswerService,
        access: AccessControl,
        settings: Settings,
        principal: Principal,
    ) -> Any:
        question, history = parse_messages(data.get("messages"))
        collections = access.admit_question(principal)
        ticket = answers.enter_queue()
        ask = partial(
            answers.stream,
            question,
            ticket=ticket,
            history=history,
            user=principal.user,
            collections=collections,
        )
        model = settings.model
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if data.get("stream"):
            drafts = answers.router.replaceable  # answers that may yet be replaced
            stream = _stream(ask, ticket, model, completion_id, drafts, detect(question))
            return ServerSentEvent(stream)
        events = await asyncio.to_thread(lambda: list(ask()))
        done = next(e for e in events if isinstance(e, DoneEvent))
        answer = done.answer
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model or model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": [c.to_dict() for c in answer.citations],
            "refused": answer.refused,
        }


def _chunk(
    completion_id: str, model: str, delta: dict[str, Any], **extra: Any
) -> ServerSentEventMessage:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}
        ],
        **extra,
    }
    return ServerSentEventMessage(data=json.dumps(body, ensure_ascii=False))


async def _stream(
    ask: Callable[..., Iterator[Event]],
    ticket: Ticket,
    model: str,
    completion_id: str,
    drafts: int = 0,
    language: str = "en",
) -> AsyncIterator[ServerSentEventMessage]:
    """The answer as chunks. The first ``drafts`` models' text is held back until it is
    accepted (the done event) or replaced (a retry event): a client never gets a draft
    it would have to unsee."""
    events = relay(lambda cancel: ask(cancel=cancel))
    held: list[str] | None = [] if drafts else None
    try:
        yield _chunk(completion_id, model, {"role": "assistant", "content": ""})
        async for item in events:
            if isinstance(item, Exception):
                _, detail = stream_error(item, language)  # in the question's language
                yield ServerSentEventMessage(data=json.dumps({"error": {"message": detail}}))
                break
            if isinstance(item, TokenEvent):
                if held is None:
                    yield _chunk(completion_id, model, {"content": item.text})
                else:
                    held.append(item.text)
            elif isinstance(item, RetryEvent):  # the draft is dropped; the next model answers
                drafts -= 1
                held = [] if drafts > 0 else None
            elif isinstance(item, DoneEvent):
                if held:  # an accepted draft
                    yield _chunk(completion_id, model, {"content": "".join(held)})
                yield _chunk(
                    completion_id,
                    item.answer.model or model,  # the model that had the last word
                    {},
                    finish_reason="stop",
                    citations=[c.to_dict() for c in item.answer.citations],
                    refused=item.answer.refused,
                    answer=item.answer.answer,  # what was streamed, or what replaced it
                    trimmed=item.answer.trimmed is not None,  # its unbacked tail was cut
                )
        yield ServerSentEventMessage(data="[DONE]")
    finally:
        await events.aclose()
        ticket.release()
