"""The topic check: a figure taken from a passage sentence about something else than was
asked counts as unsupported (answering/topic.py), through the grounding check."""

from __future__ import annotations

import pytest

from assistant.answering.grounding import check, grounded_lead
from assistant.answering.topic import off_topic, stems
from assistant.domain import OFF_TOPIC, Answer, Citation


def source(n: int, text: str, section: str = "Accommodation") -> Citation:
    return Citation(
        n, f"chunk{n}", "Expenses policy", "/docs/expenses.md", None, section, text, 0.5
    )


HOTEL = source(
    1,
    "The cost of a hotel is reimbursed up to 150 EUR per night. In capital cities the cap "
    "is 220 EUR per night.",
)
LEAVE = source(
    2, "New fathers get 10 days of paternity leave at full pay.", section="Parental leave"
)
HOUSING = "How much is the monthly housing allowance?"


def test_a_figure_said_of_something_else_is_unsupported() -> None:
    answer = "The monthly housing allowance is 150 EUR per night [1]."
    result = check(answer, [HOTEL, LEAVE], question=HOUSING)
    assert result.unsupported == [f"150 ({OFF_TOPIC})"]
    assert result.cut == 0 and grounded_lead(answer, result) is None  # withheld whole


def test_only_the_off_topic_sentence_is_cut() -> None:
    answer = "New fathers get 10 days of paternity leave [2]. Housing is 150 EUR a month [1]."
    result = check(answer, [HOTEL, LEAVE], question="Paternity leave and housing allowance?")
    assert result.unsupported == [f"150 ({OFF_TOPIC})"]
    assert grounded_lead(answer, result) == "New fathers get 10 days of paternity leave [2]."


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        # the figure's sentence shares a word with the question
        ("A hotel is reimbursed up to 150 EUR per night [1].", "How much for a hotel?"),
        # ... or its heading does ("Accommodation")
        ("The lodging ceiling is 150 EUR a night [1].", "The lodging ceiling for accommodation?"),
        # the answer restates nothing the passage lacks: not what this check judges
        ("150 EUR per night [1].", HOUSING),
        ("The cap is 150 EUR per night [1].", HOUSING),
        # plurals and inflections are one word ("nights", "reimbursed")
        ("Hotels are reimbursed up to 150 EUR [1].", "What is reimbursed for hotels?"),
        # the right figure, paternity leave asked, answered from the leave passage
        ("Paternity leave is 10 days at full pay [2].", "How many days of paternity leave?"),
    ],
)
def test_figures_about_what_was_asked_pass(answer: str, question: str) -> None:
    assert check(answer, [HOTEL, LEAVE], question=question).supported


def test_only_english_is_judged() -> None:
    """The stems are English: an Arabic question, or a figure held by an Arabic sentence,
    is left to the other checks."""
    arabic = source(3, "يُعوَّض الفندق حتى 150 يورو في الليلة.")
    holding = {"150": ["يُعوَّض الفندق حتى 150 يورو في الليلة. Accommodation"]}
    assert (
        off_topic("The monthly housing allowance is 150 EUR [3].", HOUSING, holding, [arabic.quote])
        == []
    )
    assert check(
        "بدل السكن الشهري 150 يورو [1].", [HOTEL], question="كم بدل السكن الشهري؟"
    ).supported


def test_stems_leave_out_how_a_question_asks() -> None:
    assert stems("How many days of paternity leave do I get, and how often?") == {
        "day",
        "patern",
        "leav",
    }


def test_the_reason_given_for_an_off_topic_answer() -> None:
    answer = Answer(
        "q", "refusal", True, [], [], "c", {}, withheld="x", unsupported=[f"150 ({OFF_TOPIC})"]
    )
    assert answer.withheld_reason == "off_topic"
    mixed = Answer(
        "q",
        "refusal",
        True,
        [],
        [],
        "c",
        {},
        withheld="x",
        unsupported=["480", f"150 ({OFF_TOPIC})"],
    )
    assert mixed.withheld_reason == "unsupported"
