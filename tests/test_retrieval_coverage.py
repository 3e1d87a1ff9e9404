"""The coverage gate: a question about names the passages never mention is refused."""

from __future__ import annotations

from assistant.retrieval.coverage import coverage, covers, named_terms


def test_names_are_capitalised_words_and_numbers_not_question_words() -> None:
    q = "When was the player born who the Colts first drafted in 1953?"
    assert named_terms(q) == ["colts", "1953"]
    assert named_terms("How do I reload postgresql.conf?") == []


def test_too_few_names_and_the_gate_does_not_judge() -> None:
    assert coverage("Why does psql ignore my password file on Linux?", ["pgpass"]) is None
    assert covers("Why does psql ignore my password file on Linux?", ["pgpass"], 0.5)


def test_passages_missing_most_names_fail_the_gate() -> None:
    q = "Which Stephen King novel gave Ad Sluijter's band its name?"
    unrelated = ["Carrie is a novel by an American author, published in 1974."]
    related = ["Ad Sluijter played in a band named after a Stephen King novel."]
    assert not covers(q, unrelated, 0.5)
    assert covers(q, related, 0.5)
    assert covers(q, unrelated, 0.0)  # 0 turns the gate off
