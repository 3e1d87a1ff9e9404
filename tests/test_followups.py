"""Conversations keep recent turns; follow-ups are rewritten into standalone questions."""

from __future__ import annotations

import json

from litestar.testing import TestClient

from assistant.answering.conversations import Conversations, Turn, is_follow_up, standalone_question
from assistant.resources import Resources
from assistant.server.app import create_app
from tests.conftest import REPO, SAMPLE

FOLLOW_UPS = [json.loads(line) for line in (REPO / "tests/data/followups.jsonl").open()]


def test_follow_ups_are_recognised_and_standalone_questions_are_not() -> None:
    assert sum(is_follow_up(x["follow_up"]) for x in FOLLOW_UPS) >= len(FOLLOW_UPS) - 1
    assert not any(is_follow_up(x["first"]) for x in FOLLOW_UPS)


def test_a_follow_up_carries_the_previous_question() -> None:
    history = [Turn("How much leave do I get?", "How much leave do I get?", "27 days [1].")]
    assert standalone_question("And for contractors?", history) == (
        "How much leave do I get? And for contractors?"
    )
    assert standalone_question("Where is car park B?", history) == "Where is car park B?"
    assert standalone_question("And for contractors?", []) == "And for contractors?"


def test_conversations_are_bounded() -> None:
    conv = Conversations(max_turns=2, max_conversations=2)
    for i in range(3):
        conv.add("a", Turn(f"q{i}", f"q{i}", "a"))
    assert [t.question for t in conv.history("a")] == ["q1", "q2"]
    conv.add("b", Turn("x", "x", "y"))
    conv.add("c", Turn("x", "x", "y"))
    assert conv.history("a") == []  # the oldest conversation was dropped
    assert conv.history(None) == []


def test_the_api_keeps_the_conversation(resources: Resources, auth: dict[str, str]) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        client.headers.update(auth)
        first = client.post(
            "/api/ask", json={"question": "Where is the fire assembly point?"}
        ).json()
        cid = first["conversation_id"]
        assert cid
        follow = client.post(
            "/api/ask", json={"question": "Can I use the lifts then?", "conversation_id": cid}
        ).json()
        assert follow["conversation_id"] == cid
        assert follow["citations"][0]["path"].endswith("facilities.html")
        history = resources.answers.conversations.history(f"alice\x00{cid}")
        assert [t.question for t in history] == [
            "Where is the fire assembly point?",
            "Can I use the lifts then?",
        ]
        assert history[1].standalone.startswith("Where is the fire assembly point?")
