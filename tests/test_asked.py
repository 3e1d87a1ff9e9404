"""Which questions ask for a figure, and which answers give one (answering/asked.py)."""

from __future__ import annotations

import pytest

from assistant.answering.asked import asks_quantity, lacks_asked_figure, states_quantity


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("How many days of annual leave do I get?", True),
        ("how much is the meal allowance", True),
        ("In what year was the station founded?", True),
        ("What percentage of the salary is the housing allowance?", True),
        ("كم يوم إجازة سنوية أستحق؟", True),
        ("وكم يوم؟", True),
        ("بكم تذكرة القطار؟", True),
        ("How long is the probation period?", False),  # "until the review" answers it
        ("When does the office open?", False),
        ("متى يبدأ الدوام في رمضان؟", False),
        ("الحكم في القضية", False),  # "كم" inside a word
        ("Which form do I use?", False),
        ("How can I find out how much disk space a table takes?", False),  # a way, not a figure
        ("How do I see how many dead rows a table has?", False),
        ("كيف أعرف كم يوم باقي في رصيدي؟", False),
    ],
)
def test_asks_quantity(question: str, asks: bool) -> None:
    assert asks_quantity(question) is asks


@pytest.mark.parametrize(
    ("answer", "states"),
    [
        ("21 days [1].", True),
        ("٢١ يوماً [1].", True),
        ("Five. Staff receive five days [2].", True),
        ("Half of the basic salary [1].", True),
        ("ثلاثة أيام [1].", True),
        ("أسبوعين من تاريخ الطلب [1].", True),
        ("ثلث المكافأة [1].", True),
        ("بالأربعة مستويات [1].", True),
        ("The housing allowance is paid monthly with the salary [3].", False),
        ("يُصرف للموظف بدل سكن شهرياً مع الراتب [3].", False),
        ("عدد الأيام [1]", False),
        ("يوم الخميس [1].", False),
        ("`git shortlog -s -n` counts them [1].", True),  # a way to the figure
        ("It is set by work_mem [2].", True),
        ("Call pg_total_relation_size() on it [1].", True),
    ],
)
def test_states_quantity(answer: str, states: bool) -> None:
    assert states_quantity(answer) is states


def test_a_citation_marker_is_no_figure() -> None:
    assert not states_quantity("The allowance is paid monthly [12].")
    assert lacks_asked_figure("How much is it?", "It is paid monthly [12].")
    assert not lacks_asked_figure("Which form?", "Form FIN [1].")
