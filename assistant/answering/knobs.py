"""What of the ``Settings`` shapes an answer, read in one place.

The app (assistant/resources.py) and the eval (assistant/eval/runner.py) both build an
``AnswerService`` with these, so what ``make eval`` measures is what users get: a setting
added here reaches both, and neither can drift from the other.
"""

from __future__ import annotations

from typing import TypedDict

from assistant.settings import Settings


class AnswerKnobs(TypedDict):
    max_tokens: int
    context_tokens: int | None
    verify_grounding: bool
    regenerate: bool
    keep_lead: bool


def answer_knobs(settings: Settings) -> AnswerKnobs:
    """The ``AnswerService`` keyword arguments that come from ``settings``."""
    return AnswerKnobs(
        max_tokens=settings.max_tokens,
        context_tokens=settings.context_tokens or None,  # 0: the whole context window
        verify_grounding=settings.verify_grounding,  # answering/grounding.py
        regenerate=settings.regenerate_withheld,  # a withheld answer asked once more
        keep_lead=settings.keep_grounded_lead,  # or its cited, backed lead shown
    )
