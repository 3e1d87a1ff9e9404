"""Answers in the language of the question: detection, the Arabic refusal given and
recognised everywhere a refusal is (the service, the chain of models, the eval), and the
system prompt that tells the model both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answering.citations import is_refusal
from assistant.answering.generator import EchoGenerator
from assistant.answering.prompt import (
    PLAIN_SYSTEM_PROMPT,
    REFUSAL,
    REFUSAL_AR,
    RULES,
    SYSTEM_PROMPT,
    build_messages,
    refusal,
)
from assistant.answering.service import DoneEvent, RetryEvent
from assistant.eval.answers import evaluate_answers
from assistant.eval.dataset import EvalItem, GoldResolver
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from assistant.text.language import detect, direction
from tests.test_router import Scripted

ARABIC_DOC = (
    "# الإجازة السنوية\n\n"
    "يحصل الموظف بدوام كامل على ٣٠ يوماً من الإجازة السنوية المدفوعة. "
    "تُقدَّم طلبات الإجازة عبر بوابة الموارد البشرية قبل أسبوعين.\n"
)
ASK_AR = "كم يوماً من الإجازة السنوية يحصل الموظف بدوام كامل؟"
ANSWER_AR = "يحصل الموظف بدوام كامل على ٣٠ يوماً من الإجازة السنوية [1]."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("كم يوماً من الإجازة السنوية يحصل الموظف؟", "ar"),
        ("How many days of annual leave do I get?", "en"),
        ("ما هو work_mem في PostgreSQL؟", "ar"),  # Latin names in an Arabic question
        ("كيف أضبط shared_buffers و work_mem في PostgreSQL", "ar"),
        ("What does إجازة mean in the handbook?", "en"),  # an Arabic word in English
        ("چند روز مرخصی دارم؟", "ar"),  # Persian: the same script
        ("٣٤", "en"),  # no letters: the default
        ("", "en"),
    ],
)
def test_the_language_of_a_question(text: str, language: str) -> None:
    assert detect(text) == language


def test_arabic_runs_right_to_left() -> None:
    assert (direction("ar"), direction("en")) == ("rtl", "ltr")


def test_the_refusal_of_each_language_is_recognised() -> None:
    assert (refusal("ar"), refusal("en"), refusal("fr")) == (REFUSAL_AR, REFUSAL, REFUSAL)
    for text in (
        REFUSAL_AR,
        f'"{REFUSAL_AR}"',
        "لا اجد هذا في المستندات التي يمكنك الوصول اليها",  # no hamza, no full stop
        "لا أجد هذا في المستندات.",  # a shortened copy
        "عذرًا، لم أجد هذا في المصادر.",
        "لا يمكنني العثور على هذه المعلومة في المصادر.",
    ):
        assert is_refusal(text), text
    assert not is_refusal(ANSWER_AR)
    assert not is_refusal("لا يجوز أخذ الإجازة قبل أسبوعين من الطلب [1].")


def test_one_system_prompt_asks_for_the_language_of_the_question_and_both_refusals() -> None:
    for prompt in (SYSTEM_PROMPT, PLAIN_SYSTEM_PROMPT):
        assert "in the language of the question" in prompt
        assert f'reply exactly: "{REFUSAL}"' in prompt and f'"{REFUSAL_AR}"' in prompt
    assert REFUSAL_AR not in RULES  # a refusal never reads as a leaked prompt (guard.py)


def test_the_echo_stand_in_refuses_in_the_language_of_the_question() -> None:
    words = EchoGenerator().stream(build_messages(ASK_AR, []), max_tokens=64)
    assert "".join(words).strip() == REFUSAL_AR


@pytest.fixture
def arabic(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    docs = tmp_path / "arabic"
    docs.mkdir()
    (docs / "leave-ar.md").write_text(ARABIC_DOC, encoding="utf-8")
    yield docs


def _resources(
    settings: Settings, docs: Path, model: Scripted, draft: Scripted | None = None
) -> Resources:
    res = Resources(settings, embedder=HashEmbedder(), generator=model, draft_generator=draft)
    res.ingestor.ingest([docs], "arabic")
    return res


def test_an_arabic_question_gets_the_arabic_refusal_from_the_gates(
    settings: Settings, arabic: Path
) -> None:
    res = _resources(settings, arabic, Scripted("large", ANSWER_AR))
    try:
        answer = res.answers.answer("ما رقم هاتف المدير العام؟")
        assert (answer.refused, answer.model, answer.answer) == (True, None, REFUSAL_AR)
        assert answer.language == "ar" and answer.to_dict()["language"] == "ar"
        english = res.answers.answer("What is the phone number of the director general?")
        assert (english.answer, english.language) == (REFUSAL, "en")
    finally:
        res.close()


@pytest.mark.parametrize("written", [REFUSAL_AR, REFUSAL])
def test_a_model_refusing_an_arabic_question_is_refused_in_arabic(
    settings: Settings, arabic: Path, written: str
) -> None:
    res = _resources(settings, arabic, Scripted("large", written))
    try:
        answer = res.answers.answer(ASK_AR)
        assert answer.refused and answer.model == "large" and answer.sources
        assert answer.answer == REFUSAL_AR  # whichever language the model refused in
    finally:
        res.close()


def test_the_chain_escalates_on_an_arabic_refusal(settings: Settings, arabic: Path) -> None:
    draft, model = Scripted("small", REFUSAL_AR), Scripted("large", ANSWER_AR)
    res = _resources(settings, arabic, model, draft)
    try:
        events = list(res.answers.stream(ASK_AR, user="alice"))
        (retry,) = [e for e in events if isinstance(e, RetryEvent)]
        assert (retry.model, retry.previous, retry.reason) == ("large", "small", "refused")
        done = events[-1]
        assert isinstance(done, DoneEvent)
        assert not done.answer.refused and "٣٠" in done.answer.answer
        assert done.answer.tried == ["small", "large"] and model.calls == 1
    finally:
        res.close()


def test_the_eval_counts_an_arabic_refusal_as_a_refusal(settings: Settings, arabic: Path) -> None:
    res = _resources(settings, arabic, Scripted("large", REFUSAL_AR))
    try:
        items = [EvalItem(question=ASK_AR, answers=["30"], gold=["leave-ar.md"])]
        scores = evaluate_answers(res.answers, items, GoldResolver(res.store))
        assert scores.false_refusals == 1.0 and scores.accuracy == 0.0
    finally:
        res.close()
