"""Saved conversations through the API with real SQLite: listed, reopened (after a restart,
a follow-up still continues them), renamed, deleted, erased with the data subject, purged
after the retention period, and never another user's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from assistant.answering.generator import EchoGenerator
from assistant.cli.main import cli
from assistant.domain import utcnow
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import MODELS, SAMPLE, add_user, open_collection

FIRST = "How many days of paid annual leave do full-time employees get?"
FOLLOW_UP = "And for part-time staff?"


def _app(res: Resources) -> tuple[TestClient, dict[str, dict[str, str]]]:  # type: ignore[type-arg]
    tokens = {
        name: {"Authorization": f"Bearer {add_user(res, name)}"}
        for name in ("alice", "bob")
        if res.access.store.user(name) is None
    }
    return TestClient(create_app(res.settings, res, warm_up=False)), tokens


@pytest.fixture
def started(settings: Settings) -> Iterator[Resources]:
    res = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    open_collection(res)
    res.ingestor.ingest([SAMPLE], "sample")
    yield res
    res.close()


def test_a_conversation_is_saved_reopened_renamed_and_deleted(
    started: Resources, settings: Settings
) -> None:
    client, tokens = _app(started)
    alice, bob = tokens["alice"], tokens["bob"]
    with client:
        first = client.post("/api/ask", json={"question": FIRST}, headers=alice).json()
        cid = first["conversation_id"]
        client.post("/api/ask", json={"question": FOLLOW_UP, "conversation_id": cid}, headers=alice)
        (listed,) = client.get("/api/conversations", headers=alice).json()
        assert (listed["id"], listed["title"], listed["turns"]) == (cid, FIRST, 2)
        assert client.get("/api/conversations", headers=bob).json() == []
        assert client.get(f"/api/conversations/{cid}", headers=bob).status_code == 404

        saved = client.get(f"/api/conversations/{cid}", headers=alice).json()
        assert [t["question"] for t in saved["turns"]] == [FIRST, FOLLOW_UP]
        assert saved["turns"][0]["answer"]["answer"] == first["answer"]
        assert saved["turns"][0]["sources"] and saved["turns"][0]["answer"]["citations"]

        renamed = client.patch(
            f"/api/conversations/{cid}", json={"title": " Leave  "}, headers=alice
        )
        assert renamed.status_code == 200 and renamed.json()["title"] == "Leave"
        assert (
            client.patch(f"/api/conversations/{cid}", json={"title": "x"}, headers=bob).status_code
            == 404
        )
        assert (
            client.patch(
                f"/api/conversations/{cid}", json={"title": "  "}, headers=alice
            ).status_code
            == 400
        )
        assert client.get("/api/conversations", headers=alice).json()[0]["title"] == "Leave"
    started.close()

    # after a restart, a follow-up to the reopened conversation still reads its turns
    again = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        client, _ = _app(again)
        with client:
            follow = client.post(
                "/api/ask",
                json={"question": "What about contractors then?", "conversation_id": cid},
                headers=alice,
            ).json()
            assert follow["conversation_id"] == cid
            saved = client.get(f"/api/conversations/{cid}", headers=alice).json()
            assert len(saved["turns"]) == 3
            history = again.answers.conversations.history(f"alice\x00{cid}")
            assert history[-1].standalone.startswith(FIRST)  # rewritten with the saved turns
            assert client.delete(f"/api/conversations/{cid}", headers=bob).status_code == 404
            assert client.delete(f"/api/conversations/{cid}", headers=alice).status_code == 204
            assert client.get(f"/api/conversations/{cid}", headers=alice).status_code == 404
    finally:
        again.close()


def test_erasure_and_retention_remove_saved_conversations(
    started: Resources, settings: Settings
) -> None:
    started.answers.answer(FIRST, user="alice")
    started.answers.answer(FIRST, user="bob")
    started.close()
    env = {"ASSISTANT_DATA_DIR": str(settings.data_dir), "ASSISTANT_MODELS_DIR": str(MODELS)}
    done = CliRunner().invoke(cli, ["audit", "erase-subject", "alice", "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 saved conversation" in " ".join(done.output.split())

    res = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    try:
        assert res.history.list("alice") == []
        (bobs,) = res.history.list("bob")
        old = (utcnow() - timedelta(days=91)).isoformat()
        res.history._db.execute("UPDATE conversations SET updated = ?", (old,))
        assert res.history.purge() == 1  # 90 days untouched: gone
        assert res.history.list("bob") == [] and res.history.turns("bob", bobs["id"]) == []
    finally:
        res.close()
