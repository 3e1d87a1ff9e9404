"""A chain of models over HTTP: the page's event stream says when a draft is discarded and
which model answered; the OpenAI endpoint never hands out a discarded draft."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from litestar.testing import TestClient

from assistant.answering.prompt import REFUSAL
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import SAMPLE
from tests.live import live_server
from tests.test_api import _sse
from tests.test_router import BACKED, QUESTION, Scripted

DRAFT = "Perhaps 480 EUR [1]."  # withheld: no passage has 480


@pytest.fixture
def resources(settings: Settings) -> Iterator[Resources]:
    """The draft "small" states a figure no passage holds; "large" answers from the passage
    (stand-ins for the configured chain qwen2.5-0.5b -> qwen2.5-1.5b)."""
    res = Resources(
        settings.model_copy(update={"draft_model": "qwen2.5-0.5b"}),
        embedder=HashEmbedder(),
        generator=Scripted("large", BACKED),
        draft_generator=Scripted("small", DRAFT),
    )
    res.ingestor.ingest([SAMPLE], "sample")
    yield res
    res.close()


@pytest.fixture
def client(resources: Resources, auth: dict[str, str]) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as c:
        c.headers.update(auth)
        yield c


def test_the_stream_says_retry_then_streams_the_next_model(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post("/api/ask/stream", json={"question": QUESTION})
    events = _sse(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and kinds.count("retry") == 1
    retry = kinds.index("retry")
    assert events[retry][1] == {"model": "large", "from": "small", "reason": "withheld"}
    before = "".join(d["text"] for k, d in events[:retry] if k == "token")  # type: ignore[index]
    after = "".join(d["text"] for k, d in events[retry:] if k == "token")  # type: ignore[index]
    assert "480" in before and "480" not in after and "220 EUR" in after
    done = events[-1][1]
    assert isinstance(done, dict)
    assert done["model"] == "large" and done["tried"] == ["small", "large"]
    assert done["refused"] is False and "220 EUR" in done["answer"]


def test_the_api_json_and_readiness_name_both_models(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post("/api/ask", json={"question": QUESTION}).json()
    assert (body["model"], body["tried"]) == ("large", ["small", "large"])
    checks = client.get("/readyz").json()["checks"]
    assert (checks["draft_model"], checks["model"]) == ("small", "large")
    assert "qwen2.5-0.5b → qwen2.5-1.5b</dd>" in client.get("/").text  # the page's header


@pytest.fixture
def openai_client(resources: Resources, auth: dict[str, str]) -> Iterator[openai.OpenAI]:
    token = auth["Authorization"].removeprefix("Bearer ")
    with live_server(create_app(resources.settings, resources, warm_up=False)) as base:
        yield openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)


def _streamed(client: openai.OpenAI) -> tuple[str, str]:
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text, model = "", ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        model = chunk.model
    return text, model


def test_openai_never_hands_out_a_discarded_draft(
    openai_client: openai.OpenAI, resources: Resources
) -> None:
    r = openai_client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "220 EUR" in (r.choices[0].message.content or "") and r.model == "large"
    text, model = _streamed(openai_client)
    assert "480" not in text and text.strip() == BACKED and model == "large"
    # an accepted draft is sent whole once it is judged; a refusal of both is the refusal
    assert isinstance(resources.draft_generator, Scripted)
    resources.draft_generator.reply = BACKED
    text, model = _streamed(openai_client)
    assert text.strip() == BACKED and model == "small"
    resources.draft_generator.reply = REFUSAL
    assert isinstance(resources.generator, Scripted)
    resources.generator.reply = REFUSAL
    text, _ = _streamed(openai_client)
    assert text.strip() == REFUSAL


def test_openai_never_hands_out_an_answer_asked_again(
    settings: Settings, auth: dict[str, str]
) -> None:
    """With ``regenerate_withheld`` the one model's first answer may be replaced too (the
    sample is in the index already: ``auth`` comes with the module's ``resources``)."""
    again = settings.model_copy(update={"regenerate_withheld": True})
    model = Scripted("large", DRAFT, then=BACKED)
    res = Resources(again, embedder=HashEmbedder(), generator=model)
    try:
        assert res.answers.router.replaceable == 1
        token = auth["Authorization"].removeprefix("Bearer ")
        with live_server(create_app(again, res, warm_up=False)) as base:
            client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
            text, _ = _streamed(client)
        assert text.strip() == BACKED and model.calls == 2
    finally:
        res.close()
