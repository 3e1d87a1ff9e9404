"""The coverage gate: a question about names the passages never mention is refused."""

from __future__ import annotations

from assistant.retrieval.coverage import CoverageGate, coverage, named_terms

GATE = CoverageGate(min_coverage=0.5, weak_score=0.45, weak_coverage=0.8)


def test_names_are_capitalised_words_and_numbers_not_question_words() -> None:
    q = "When was the player born who the Colts first drafted in 1953?"
    assert named_terms(q) == ["colts", "1953"]
    assert named_terms("How do I reload postgresql.conf?") == []


def test_too_few_names_and_the_gate_does_not_judge() -> None:
    assert coverage("Why does psql ignore my password file on Linux?", ["pgpass"]) is None
    assert GATE.admits("Why does psql ignore my password file on Linux?", ["pgpass"], 0.1)


def test_passages_missing_most_names_fail_the_gate() -> None:
    q = "Which Stephen King novel gave Ad Sluijter's band its name?"
    unrelated = ["Carrie is a novel by an American author, published in 1974."]
    related = ["Ad Sluijter played in a band named after a Stephen King novel."]
    assert not GATE.admits(q, unrelated, 0.9)
    assert GATE.admits(q, related, 0.9)
    assert CoverageGate().admits(q, unrelated, 0.1)  # all zero: the gate is off


def test_a_weak_match_must_find_more_of_the_names() -> None:
    q = "Did Stephen King write a novel that Ad Sluijter's band took its name from?"
    some = ["Stephen King wrote Carrie, his first novel, in 1974."]  # 2 of its 3 names
    assert coverage(q, some) == 2 / 3
    assert GATE.admits(q, some, best_score=0.6)  # a close match: half is enough
    assert not GATE.admits(q, some, best_score=0.4)  # a weak one needs 0.8
    assert GATE.required(0.4) == 0.8 and GATE.required(0.6) == 0.5
