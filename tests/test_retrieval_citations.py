"""From retrieval to citations: [n] resolves to a passage the model was given, invented
numbers are removed (real store and index, hash embedder)."""

from __future__ import annotations

from pathlib import Path

from assistant.answering.citations import as_sources, resolve
from assistant.answering.prompt import build_messages
from assistant.resources import Resources
from assistant.retrieval.context import compact


def test_citations_resolve_to_given_passages_and_invented_ones_vanish(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "expenses.md").write_text(
        "# Expenses\n\n## Hotels\n\nA hotel night is reimbursed up to 150 EUR. "
        "In capital cities the cap is 220 EUR.\n",
        encoding="utf-8",
    )
    (docs / "travel.txt").write_text(
        "Trips are booked by the travel desk. Rail is preferred under 500 km.\n", encoding="utf-8"
    )
    resources.ingestor.ingest([docs], "policies")
    retriever = resources.retriever
    question = "How much is a hotel night reimbursed?"
    query = retriever.embed_query(question)
    hits = compact(
        query,
        retriever.retrieve(question, query_vector=query),
        retriever.embedder,
        budget_tokens=350,
    )
    assert hits, "the hotel passage should be retrieved"
    sources = as_sources(hits)
    prompt = build_messages(question, hits)[-1]["content"]
    for s in sources:  # every numbered source is in the prompt, with its exact text
        assert f"[{s.n}]" in prompt and s.quote in prompt
    hotel = next(s for s in sources if "150 EUR" in s.quote)
    answer = f"A hotel night is reimbursed up to 150 EUR [{hotel.n}]. Breakfast is free [7]."
    text, cited = resolve(answer, sources)
    assert "[7]" not in text and f"[{hotel.n}]" in text
    assert [c.n for c in cited] == [hotel.n]
    c = cited[0]
    assert Path(c.path).name == "expenses.md" and c.section and "Hotels" in c.section
    assert "150 EUR" in c.quote and c.chunk_id == hits[hotel.n - 1].chunk.id
