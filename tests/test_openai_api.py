"""The OpenAI-compatible endpoint, driven by the official ``openai`` client on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from assistant.resources import Resources
from assistant.server.app import create_app
from tests.conftest import SAMPLE
from tests.live import live_server

QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture
def client(resources: Resources, auth: dict[str, str]) -> Iterator[openai.OpenAI]:
    resources.ingestor.ingest([SAMPLE], "sample")
    token = auth["Authorization"].removeprefix("Bearer ")
    with live_server(create_app(resources.settings, resources, warm_up=False)) as base:
        yield openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)


def test_models_lists_the_configured_model(client: openai.OpenAI, resources: Resources) -> None:
    assert [m.id for m in client.models.list()] == [resources.settings.model]


def test_chat_completion_round_trip_with_citations(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}]
    )
    content = r.choices[0].message.content or ""
    assert "27 days" in content and "[1]" in content
    extra = r.model_extra or {}
    assert extra["refused"] is False
    assert extra["citations"][0]["path"].endswith("hr-handbook.pdf")
    assert extra["citations"][0]["page"] == 3


def test_streamed_chat_completion(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text, last = "", None
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        last = chunk
    assert "27 days" in text
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"][0]["page"] == 3


def test_follow_up_uses_the_earlier_turns(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="any",
        messages=[
            {"role": "user", "content": "Where is the fire assembly point?"},
            {"role": "assistant", "content": "In car park B [1]."},
            {"role": "user", "content": "And what about visitors?"},
        ],
    )
    sources = (r.model_extra or {})["citations"]
    assert sources and sources[0]["path"].endswith("facilities.html")


def test_bad_messages_are_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="any", messages=[])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="any", messages=[{"role": "assistant", "content": "hi"}]
        )
