from dataclasses import replace

from assistant.answering.citations import as_sources, is_refusal, resolve
from assistant.answering.prompt import (
    PLAIN_SYSTEM_PROMPT,
    REFUSAL,
    RULES,
    SYSTEM_PROMPT,
    build_messages,
    corrected,
    system_prompt,
)
from assistant.domain import Chunk, Document, RetrievedChunk
from assistant.models.catalog import CATALOG


def _hit(n: int, text: str, page: int | None = None) -> RetrievedChunk:
    doc = Document(f"d{n}", f"/docs/file{n}.pdf", f"File {n}", "c", "application/pdf", 10)
    return RetrievedChunk(Chunk(f"c{n}", doc.id, 0, text, page, f"Section {n}"), doc, 0.9 - n / 10)


def test_prompt_numbers_sources_and_keeps_a_stable_system_prefix() -> None:
    hits = [_hit(1, "Leave is 27 days.", 3), _hit(2, "Sick leave needs a note.")]
    a = build_messages("How much leave?", hits)
    b = build_messages("Something else?", hits[:1])
    assert a[0] == b[0] == {"role": "system", "content": SYSTEM_PROMPT}
    user = a[1]["content"]
    # the model reads the section heading; file and page are for the citation the user sees
    assert "[1] (Section 1)\nLeave is 27 days." in user
    assert "[2] (Section 2)\nSick leave needs a note." in user
    assert "file1.pdf" not in user
    untitled = build_messages("Q?", [replace(hits[0], chunk=replace(hits[0].chunk, section=None))])
    assert "[1] Leave is 27 days." in untitled[1]["content"]
    assert user.endswith("Question: How much leave?")
    assert REFUSAL in SYSTEM_PROMPT


def test_a_withheld_answer_is_followed_by_what_no_source_states() -> None:
    said, told = corrected("It is 480 EUR [1].", ["480", "roma"])
    assert said == {"role": "assistant", "content": "It is 480 EUR [1]."}
    assert told["role"] == "user" and told["content"].startswith('No source states "480", "roma".')


def test_worked_examples_only_for_models_they_help() -> None:
    assert SYSTEM_PROMPT.startswith(PLAIN_SYSTEM_PROMPT) and "Example 1" in SYSTEM_PROMPT
    assert REFUSAL in PLAIN_SYSTEM_PROMPT and "Example" not in PLAIN_SYSTEM_PROMPT
    assert PLAIN_SYSTEM_PROMPT.startswith(RULES)
    assert system_prompt(True) == SYSTEM_PROMPT and system_prompt(False) == PLAIN_SYSTEM_PROMPT
    assert build_messages("Q?", [], PLAIN_SYSTEM_PROMPT)[0]["content"] == PLAIN_SYSTEM_PROMPT
    llms = {name: spec.prompt_examples for name, spec in CATALOG.items() if spec.kind == "llm"}
    assert llms["smollm2-135m"] is False  # it copied the examples' numbers into answers
    assert llms["qwen2.5-1.5b"] is True


def test_citations_map_to_the_given_sources_and_invented_ones_are_removed() -> None:
    sources = as_sources([_hit(1, "a", 3), _hit(2, "b")])
    text, cited = resolve("Leave is 27 days [2]. Also [7] and [1, 9].", sources)
    assert text == "Leave is 27 days [2]. Also and [1]."
    assert [c.n for c in cited] == [2, 1]
    assert cited[0].path == "/docs/file2.pdf"
    assert sources[0].page == 3 and sources[0].section == "Section 1"


def test_citation_without_valid_numbers_leaves_clean_text() -> None:
    text, cited = resolve("Nothing here [3].", as_sources([_hit(1, "a")]))
    assert text == "Nothing here."
    assert cited == []


def test_refusal_detection() -> None:
    assert is_refusal(REFUSAL)
    assert is_refusal("I can’t find this in the documents you have access to")
    assert is_refusal("")
    assert not is_refusal("You get 27 days of leave [1].")


def test_a_marker_repeated_after_the_full_stop_is_collapsed() -> None:
    sources = as_sources([_hit(1, "a")])
    assert resolve("It is in car park B [1]. [1]", sources)[0] == "It is in car park B [1]."


def test_uncited_sentences_backed_by_a_source_are_attributed() -> None:
    from assistant.answering.citations import attribute

    sources = as_sources(
        [_hit(1, "The canteen opens at noon."), _hit(2, "Parking is free for staff.")]
    )
    text = attribute("Parking is free for staff. The moon is made of cheese.", sources)
    assert text == "Parking is free for staff [2]. The moon is made of cheese."
