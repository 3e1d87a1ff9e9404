"""Leak probes: a user may never get an answer built from a collection they may not read.

User A is in the restricted "hr" group; user B sees only public documents. For
every sentence of the restricted document, B asks it verbatim through every door
(/api/ask, the stream, /v1/chat/completions, and the CLI with --as B). No
restricted chunk may reach B's retrieval results, prompt, citations or answer.
A asks the same and must get the restricted passage -- the probe can see a leak.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from assistant.answering.generator import EchoGenerator
from assistant.answering.prompt import Message
from assistant.answering.service import DoneEvent
from assistant.cli.main import cli
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import add_user, open_collection

RESTRICTED = [
    "The salary band for grade seven engineers is 58,000 to 64,000 EUR.",
    "Project Heron will close the Leeds office in March 2027.",
    "The restructuring budget reserved for severance is 2.4 million EUR.",
    "Dr. Amara Okafor is on long-term medical leave until September.",
    "The disciplinary hearing for the warehouse incident is on 14 May.",
    "Bonus pool approval requires the signature of the chief people officer.",
    "Confidential retention payments go to twelve named specialists.",
    "The acquisition target is codenamed Kestrel Analytics.",
]
PUBLIC = [
    "The staff canteen serves lunch from 12:00 to 14:00.",
    "Bicycles may be parked in the covered racks behind building C.",
]


class RecordingGenerator(EchoGenerator):
    """The echo generator that also keeps every prompt it was given."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        with self._lock:
            self.prompts.append("\n".join(m["content"] for m in messages))
        return super().stream(messages, max_tokens=max_tokens, cancel=cancel)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Resources, RecordingGenerator, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path / "data", embedding_model="hash", model="echo", min_score=0.05
    )
    gen = RecordingGenerator()
    res = Resources(settings, embedder=HashEmbedder(), generator=gen)
    for name, lines in (("restricted-hr", RESTRICTED), ("public", PUBLIC)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}.md").write_text("# Notes\n\n" + "\n\n".join(lines) + "\n")
        res.ingestor.ingest([folder], name)
    open_collection(res, "restricted-hr", ("hr",), "restricted")
    open_collection(res, "public", ("everyone",), "public")
    tokens = {
        "A": add_user(res, "ann", groups=("hr", "everyone"), clearance="restricted"),
        "B": add_user(res, "ben", groups=("everyone",), clearance="public"),
    }
    yield res, gen, tokens
    res.close()


def _restricted_chunk_ids(res: Resources) -> set[str]:
    ids, _ = res.store.all_vectors(res.embedder.dim)
    rows = res.store.chunks_for_vids([int(v) for v in ids])
    return {chunk.id for chunk, doc in rows.values() if doc.collection == "restricted-hr"}


def test_restricted_text_never_reaches_a_user_without_access(
    world: tuple[Resources, RecordingGenerator, dict[str, str]],
) -> None:
    res, gen, tokens = world
    secret_ids = _restricted_chunk_ids(res)
    assert secret_ids
    seen: dict[str, list[DoneEvent]] = {"ann": [], "ben": []}
    res.answers.observers.append(lambda user, done: seen[user].append(done))
    probes = 0
    with TestClient(create_app(res.settings, res, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {tokens['B']}"
        for sentence in RESTRICTED:
            bodies = [
                client.post("/api/ask", json={"question": sentence}).json(),
                _last_sse(client.post("/api/ask/stream", json={"question": sentence}).text),
            ]
            oa = client.post(
                "/v1/chat/completions", json={"messages": [{"role": "user", "content": sentence}]}
            ).json()
            bodies.append(
                {"answer": oa["choices"][0]["message"]["content"], "citations": oa["citations"]}
            )
            cli_out = CliRunner().invoke(
                cli,
                ["ask", sentence, "--as", "ben", "--json"],
                env={
                    "ASSISTANT_DATA_DIR": str(res.settings.data_dir),
                    "ASSISTANT_MODEL": "echo",
                    "ASSISTANT_EMBEDDING_MODEL": "hash",
                    "ASSISTANT_MIN_SCORE": "0.05",
                },
            )
            assert cli_out.exit_code == 0, cli_out.output
            bodies.append(json.loads(cli_out.stdout))
            for body in bodies:
                probes += 1
                assert not {c["chunk_id"] for c in body["citations"]} & secret_ids, body
                assert all(s not in body["answer"] for s in RESTRICTED), body
        ben_prompts = list(gen.prompts)
        # the same questions as A: the restricted passages do come back (the probe works)
        client.headers["Authorization"] = f"Bearer {tokens['A']}"
        found = client.post("/api/ask", json={"question": RESTRICTED[1]}).json()
        assert {c["chunk_id"] for c in found["citations"]} & secret_ids

    assert probes == 4 * len(RESTRICTED)
    ben_hits = {h.chunk.id for done in seen["ben"] for h in done.hits}
    assert not ben_hits & secret_ids  # retrieval results of B's web and API questions
    # nor their prompts: the sources given to the model (B's question itself is, of course, there)
    ben_sources = [p.split("\n\nQuestion: ")[0] for p in ben_prompts]
    assert all(s not in p for p in ben_sources for s in RESTRICTED)
    # the CLI's questions are in the audit log with the chunks they used
    cli_records = [r for r in res.audit.records() if r.kind == "question" and r.actor == "ben"]
    assert len(cli_records) >= len(RESTRICTED)
    for record in cli_records:
        used = {s["chunk_id"] for s in record.data["chunks"]}
        assert not used & secret_ids


def _last_sse(text: str) -> dict[str, object]:
    done = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.startswith("event: done")]
    assert done, text
    return json.loads(done[-1].split("data: ", 1)[1])  # type: ignore[no-any-return]
