"""Answer feedback through the API, the audit log, the review pages and the CLI export,
with real SQLite, the real audit log and Litestar's test client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from assistant.audit.feedback import FeedbackBook
from assistant.audit.filters import ExportFilter
from assistant.cli.main import cli
from assistant.eval.dataset import load_dataset
from assistant.resources import Resources
from assistant.server.app import create_app
from tests.conftest import MODELS, SAMPLE, add_user, open_collection

QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture
def app(resources: Resources) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:  # type: ignore[type-arg]
    open_collection(resources)
    resources.ingestor.ingest([SAMPLE], "sample")
    tokens = {
        name: {"Authorization": f"Bearer {add_user(resources, name, role=role)}"}
        for name, role in (("alice", "employee"), ("bob", "employee"), ("olga", "compliance"))
    }
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        yield client, tokens


def test_a_user_rates_their_answer_and_only_theirs(
    app: tuple[TestClient, dict[str, dict[str, str]]],  # type: ignore[type-arg]
    resources: Resources,
) -> None:
    client, tokens = app
    answer = client.post("/api/ask", json={"question": QUESTION}, headers=tokens["alice"]).json()
    record = answer["record"]
    assert isinstance(record, int)

    given = client.post(
        "/api/feedback",
        json={"record": record, "rating": "down", "comment": "It is 27 days, not 25."},
        headers=tokens["alice"],
    )
    assert given.status_code == 201, given.text
    (stored,) = resources.audit.records(ExportFilter(kinds=("feedback",)))
    assert stored.actor == "alice" and stored.data["rating"] == "down"
    assert stored.data["question_seq"] == record
    assert {c["collection"] for c in stored.data["chunks"]} == {"sample"}
    assert "27 days" not in json.dumps(stored.data)  # the comment is personal data, not chained
    assert resources.audit.payload(stored) == {
        "comment": "It is 27 days, not 25.",
        "question": QUESTION,
    }

    # someone else's answer, no such answer, a bad rating, an overlong comment
    for body, who, status in (
        ({"record": record, "rating": "up"}, "bob", 404),
        ({"record": 999_999, "rating": "up"}, "alice", 404),
        ({"record": stored.seq, "rating": "up"}, "alice", 404),  # a feedback record is no answer
        ({"record": record, "rating": "meh"}, "alice", 400),
        ({"record": record, "rating": "up", "comment": "x" * 2001}, "alice", 400),
    ):
        refused = client.post("/api/feedback", json=body, headers=tokens[who])
        assert refused.status_code == status, (body, who, refused.text)
    assert client.post("/api/feedback", json={"record": record, "rating": "up"}).status_code == 401
    assert len(list(resources.audit.records(ExportFilter(kinds=("feedback",))))) == 1

    # the officer sees it with the question, the answer and the passages
    page = client.get(f"/review/{stored.seq}", headers=tokens["olga"])
    assert page.status_code == 200
    assert "marked wrong" in page.text and "It is 27 days, not 25." in page.text
    assert QUESTION in page.text and 'id="f-passages"' in page.text
    listing = client.get("/review?kind=feedback", headers=tokens["olga"])
    assert "marked wrong: " + QUESTION[:40] in listing.text

    # erasing alice's personal data takes the comment with the question
    resources.audit.erase_subject("alice", actor="dpo")
    assert resources.audit.payload(stored) is None
    assert resources.audit.verify().ok


def test_export_writes_an_eval_set_of_the_latest_ratings(
    app: tuple[TestClient, dict[str, dict[str, str]]],  # type: ignore[type-arg]
    resources: Resources,
    tmp_path: Path,
) -> None:
    client, tokens = app
    right = client.post("/api/ask", json={"question": QUESTION}, headers=tokens["alice"]).json()
    other = "How much hotel cost per night is reimbursed in capital cities?"
    wrong = client.post("/api/ask", json={"question": other}, headers=tokens["bob"]).json()
    book = FeedbackBook(resources.audit)
    book.give("alice", right["record"], "down")
    book.give("alice", right["record"], "up")  # a change of mind: the last rating counts
    book.give("bob", wrong["record"], "down", "wrong city")
    resources.close()

    out = tmp_path / "feedback.jsonl"
    env = {
        "ASSISTANT_DATA_DIR": str(resources.settings.data_dir),
        "ASSISTANT_MODELS_DIR": str(MODELS),
    }
    result = CliRunner().invoke(cli, ["feedback", "export", str(out)], env=env)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_kind = {line["kind"]: line for line in lines}
    assert sorted(by_kind) == ["marked-down", "marked-up"] and len(lines) == 2
    assert by_kind["marked-up"]["question"] == QUESTION
    assert [Path(g).name for g in by_kind["marked-up"]["gold"]] == ["hr-handbook.pdf"]
    down = by_kind["marked-down"]
    assert down["question"] == other and down["gold"] == [] and down["comment"] == "wrong city"
    assert down["answer_given"] == wrong["answer"]
    items = load_dataset(out)  # what `assistant eval` reads
    assert [i.answerable for i in items] == [True, False] or [i.answerable for i in items] == [
        False,
        True,
    ]
