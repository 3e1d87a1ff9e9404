"""The grounding check: an answer's facts must be in the passages it cites."""

from __future__ import annotations

import pytest

from assistant.answering.grounding import check, grounded_lead, numbers
from assistant.domain import Citation


def source(n: int, text: str) -> Citation:
    return Citation(n, f"chunk{n}", "Policy", "/docs/policy.pdf", 1, "Leave", text, 0.5)


SOURCES = [
    source(1, "Employees get 25 days of annual leave per year. Book it 2 weeks ahead."),
    source(2, "The travel allowance is 1,200 SAR per month for staff based in Riyadh."),
]


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        ("Employees get 25 days of annual leave [1].", "How much annual leave?"),
        ("The travel allowance is 1200 SAR a month [2].", "Travel allowance?"),
        ("Staff get twenty-five days [1].", "How many days?"),
        ("In 2024 employees get 25 days [1].", "Annual leave in 2024?"),
        ("1. Book leave 2 weeks ahead [1].\n2. Take your 25 days [1].", "How do I book?"),
        ("Employees get ٢٥ days [1].", "Leave?"),
    ],
)
def test_facts_found_in_the_cited_passages_pass(answer: str, question: str) -> None:
    result = check(answer, SOURCES, question=question)
    assert result.supported, result.unsupported
    assert result.spans and result.evidence


@pytest.mark.parametrize(
    ("answer", "missing"),
    [
        ("Maternity leave is 98 days [1].", ["98"]),  # a figure no passage states
        ("Staff in King Fahd Park get 1,200 SAR [2].", ["fahd", "king", "park"]),  # a name
        ("Employees get 25 days [2].", ["25"]),  # cited the wrong passage
        ("The form is HR-17 [1].", ["17", "hr-17"]),
    ],
)
def test_a_fact_the_cited_passages_lack_is_unsupported(answer: str, missing: list[str]) -> None:
    assert check(answer, SOURCES, question="What applies?").unsupported == missing


def test_evidence_is_the_best_matching_sentence_with_its_span_id() -> None:
    result = check("Book leave 2 weeks ahead [1].", SOURCES)
    assert result.evidence == {1: "Book it 2 weeks ahead."}
    assert result.spans == ["chunk1:1"]


def test_numbers_compare_by_value() -> None:
    assert numbers("1,000 and 2.50 and 007") == {"1000", "2.5", "7"}


def test_arabic_indic_and_western_digits_are_one_number() -> None:
    arabic = [source(1, "يحصل الموظف على ٣٤ يوماً من الإجازة السنوية.")]
    assert check("يحصل الموظف على 34 يوماً [1].", arabic).supported
    assert check("يحصل الموظف على ٣٤ يوماً [1].", arabic).supported
    assert check("Employees get 34 days [1].", arabic).supported
    assert check("يحصل الموظف على ٤٣ يوماً [1].", arabic).unsupported == ["43"]


@pytest.mark.parametrize(
    ("answer", "lead"),
    [
        # the cited lead holds, the next sentence invents: the lead
        ("Employees get 25 days [1]. Managers get 30 days.", "Employees get 25 days [1]."),
        ("Employees get 25 days [1].\nMaternity leave is 98 days.", "Employees get 25 days [1]."),
        # the first sentence already fails: nothing to keep
        ("Employees get 30 days [1]. Book it 2 weeks ahead [1].", None),
        # a lead that cites nothing is no grounded answer
        ("Here is the answer. Maternity leave is 98 days [1].", None),
        # everything holds: nothing to cut
        ("Employees get 25 days [1]. Book it 2 weeks ahead [1].", None),
        # code written to illustrate is no claim, over several lines too
        ("Employees get 25 days [1].\n```\nleave = 30\n```\nIt is 98 days.",
         "Employees get 25 days [1].\n```\nleave = 30\n```"),
    ],
)  # fmt: skip
def test_the_grounded_lead_ends_before_the_first_unsupported_sentence(
    answer: str, lead: str | None
) -> None:
    grounding = check(answer, SOURCES, question="How much leave?")
    assert grounded_lead(answer, grounding) == lead


LEAVE = [source(1, "New fathers get 3 days of paternity leave. Mothers get ten consecutive weeks.")]
LEAVE_AR = [
    source(
        1,
        "تستحق الموظفة إجازة أمومة مدتها عشرة أسابيع، ويستحق الأب ثلاثة أيام، والعمل عن بعد يومين",
    )
]


@pytest.mark.parametrize(
    ("answer", "sources", "question"),
    [
        ("Paternity leave is 3 days [1].", LEAVE, "Paternity leave?"),
        ("Maternity leave is 10 weeks [1].", LEAVE, "Maternity leave?"),  # "ten consecutive"
        ("إجازة الأب 3 أيام [1].", LEAVE_AR, "كم إجازة الأب؟"),  # "ثلاثة أيام": some number
        ("العمل عن بعد 2 أيام [1].", LEAVE_AR, "كم يوم عن بعد؟"),  # the dual "يومين"
        ("After 3 years, 3 days [1].", LEAVE, "I have 3 years of service: paternity leave?"),
        ("Half of it: 1/2 month [1].", LEAVE, "Sick pay?"),  # a fraction is not judged
    ],
)
def test_a_count_with_its_unit_in_the_passages_passes(
    answer: str, sources: list[Citation], question: str
) -> None:
    result = check(answer, sources, question=question)
    assert result.supported, result.unsupported


def test_a_count_in_another_unit_than_the_passage_gives_is_unsupported() -> None:
    """A lone digit is not judged as a number (lists), but with its unit it is a claim: the
    1.5B answered "3 weeks" to a question about paternity leave's notice, which the
    passage gives as 3 days of leave."""
    result = check("Paternity leave is 3 weeks [1].", LEAVE, question="Paternity leave?")
    assert result.unsupported == ["3 weeks"]
    result = check("٣ أسابيع [1].", [source(1, "إجازة أبوة مدتها 3 أيام")], question="كم؟")
    assert result.unsupported == ["3 weeks"]
