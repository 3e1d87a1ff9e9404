"""The web API through Litestar's test client, with real SQLite/FAISS and deterministic models."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from assistant.answering.prompt import REFUSAL, REFUSAL_AR
from assistant.resources import Resources
from assistant.server.app import create_app
from tests.conftest import SAMPLE


@pytest.fixture
def client(resources: Resources, auth: dict[str, str]) -> Iterator[TestClient]:  # type: ignore[type-arg]
    resources.ingestor.ingest([SAMPLE], "sample")
    app = create_app(resources.settings, resources, warm_up=False)
    with TestClient(app) as c:
        c.headers.update(auth)
        yield c


def _sse(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_health_and_readiness(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_ask_returns_a_cited_answer(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post(
        "/api/ask",
        json={"question": "How many days of paid annual leave do full-time employees get?"},
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"answer", "refused", "citations", "conversation_id"}
    assert body["refused"] is False
    assert "27 days" in body["answer"] and "[1]" in body["answer"]
    c = body["citations"][0]
    assert set(c) >= {"n", "document", "path", "page", "section", "quote", "score"}
    assert c["n"] == 1 and c["path"].endswith("hr-handbook.pdf") and c["page"] == 3


def test_conversation_id_is_kept(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post(
        "/api/ask", json={"question": "Where is the fire assembly point?", "conversation_id": "abc"}
    )
    assert r.json()["conversation_id"] == "abc"


def test_nothing_relevant_is_refused_without_the_model(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post("/api/ask", json={"question": "zyxwv qwerty plugh"})
    assert r.json() == {
        "answer": REFUSAL,
        "refused": True,
        "withheld": False,
        "withheld_reason": None,
        "trimmed": False,
        "model": None,  # no model was asked
        "tried": [],
        "citations": [],
        "conversation_id": r.json()["conversation_id"],
        "language": "en",
        "record": r.json()["record"],  # audited all the same: feedback may name it
    }
    assert isinstance(r.json()["record"], int)


def test_an_arabic_question_is_refused_in_arabic(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post("/api/ask", json={"question": "ما لون زقحف الثعلوب المرقط؟"}).json()
    assert body["refused"] is True and body["model"] is None  # the gates, before any model
    assert (body["answer"], body["language"]) == (REFUSAL_AR, "ar")


def test_stream_sends_sources_first_then_tokens_then_done(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post("/api/ask/stream", json={"question": "Where is the fire assembly point?"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    sources = events[0][1]
    assert isinstance(sources, list) and sources[0]["path"].endswith("facilities.html")
    done = events[-1][1]
    assert isinstance(done, dict)
    streamed = "".join(d["text"] for k, d in events if k == "token")  # type: ignore[index]
    assert "car park B" in streamed and "car park B" in done["answer"]
    assert done["citations"][0]["n"] == 1


@pytest.mark.parametrize("payload", [{"question": ""}, {"question": "x" * 5000}, {"nope": 1}])
def test_bad_requests_get_a_clear_400(client: TestClient, payload: dict[str, object]) -> None:  # type: ignore[type-arg]
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, json=payload)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] in {"invalid_question", "invalid_request"}


def test_chat_page_and_openapi(client: TestClient) -> None:  # type: ignore[type-arg]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    schema = client.get("/schema/openapi.json").json()
    assert "/api/ask" in schema["paths"] and "/api/ask/stream" in schema["paths"]
