"""Sentence splitting: initials and abbreviations do not end a sentence."""

from __future__ import annotations

from assistant.answering.citations import as_sources, attribute
from assistant.eval.metrics import contains_answer
from assistant.text.sentences import split_sentences
from tests.test_prompt_citations import _hit


def test_initials_and_abbreviations_stay_inside_their_sentence() -> None:
    text = (
        "William K. Howard directed over 50 films. Dr. Smith moved to the U.S. in 2001.\n"
        "The answer is no. Done!"
    )
    assert split_sentences(text) == [
        "William K. Howard directed over 50 films.",
        "Dr. Smith moved to the U.S. in 2001.",
        "The answer is no.",
        "Done!",
    ]


def test_arabic_question_mark_and_line_breaks_end_sentences() -> None:
    assert split_sentences("قال. ثم؟ نعم\n\nlast line") == ["قال.", "ثم؟", "نعم", "last line"]


def test_attribution_never_lands_inside_a_name() -> None:
    sources = as_sources([_hit(1, "William K. Howard directed over 50 films from 1921 to 1946.")])
    answer = attribute("William K. Howard directed over 50 films.", sources)
    assert answer == "William K. Howard directed over 50 films [1]."


def test_citation_markers_do_not_hide_a_contained_answer() -> None:
    assert contains_answer("It was William K [1]. Howard", ["William K. Howard"])
