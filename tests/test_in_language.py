"""An English answer to an Arabic question, from Arabic passages, is shown as the
passages' own sentences that hold its figures (answering/in_language.py); anything else
is shown as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answering.in_language import in_question_language
from assistant.domain import Citation
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.test_grounding import source
from tests.test_language import ARABIC_DOC, ASK_AR
from tests.test_router import Scripted

LEAVE_AR = "يحصل الموظف بدوام كامل على ٣٠ يوماً من الإجازة السنوية المدفوعة."
PORTAL_AR = "تُقدَّم طلبات الإجازة عبر بوابة الموارد البشرية قبل أسبوعين."
ENGLISH = "A full-time employee gets 30 days of paid annual leave [1]."


AR_SOURCE = source(1, f"{LEAVE_AR} {PORTAL_AR}")


def test_english_prose_from_an_arabic_passage_is_shown_as_its_sentence() -> None:
    shown = in_question_language(ENGLISH, [AR_SOURCE], "ar", ASK_AR)
    assert shown == f"{LEAVE_AR} [1]"  # Arabic-Indic ٣٠ holds the answer's 30


def test_each_figure_brings_its_own_sentence_once() -> None:
    two = source(2, "مدة الإجازة ٣٠ يوماً. يُصرف البدل خلال ١٠ أيام. لا شيء هنا.")
    written = "The leave is 30 days [2], and the allowance is paid within 10 days [2]."
    shown = in_question_language(written, [two], "ar", "ما مدة الإجازة؟")
    assert shown == "مدة الإجازة ٣٠ يوماً. [2] يُصرف البدل خلال ١٠ أيام. [2]"


@pytest.mark.parametrize(
    ("written", "cited", "language", "question"),
    [
        (ENGLISH, [AR_SOURCE], "en", "How many days of leave?"),  # an English question
        ("٣٠ يوماً من الإجازة السنوية [1].", [AR_SOURCE], "ar", ASK_AR),  # already Arabic
        ("30 days [1].", [AR_SOURCE], "ar", ASK_AR),  # a figure reads in any language
        ("The leave is paid in full [1].", [AR_SOURCE], "ar", ASK_AR),  # no figure
        ("A full-time employee gets 31 days of leave [1].", [AR_SOURCE], "ar", ASK_AR),
        (ENGLISH, [source(1, "Full-time staff get 30 days of leave.")], "ar", ASK_AR),
        (ENGLISH, [], "ar", ASK_AR),  # nothing cited
        ("You get 30 days [1]; see the 2024 circular.", [AR_SOURCE], "ar", ASK_AR),
    ],
)
def test_anything_else_is_shown_as_written(
    written: str, cited: list[Citation], language: str, question: str
) -> None:
    assert in_question_language(written, cited, language, question) is None


def test_through_the_service_the_arabic_user_reads_arabic(
    settings: Settings, tmp_path: Path
) -> None:
    docs = tmp_path / "arabic"
    docs.mkdir()
    (docs / "leave-ar.md").write_text(ARABIC_DOC, encoding="utf-8")
    model = Scripted("large", ENGLISH)
    res = Resources(settings, embedder=HashEmbedder(), generator=model)
    try:
        res.ingestor.ingest([docs], "arabic")
        answer = res.answers.answer(ASK_AR)
        assert not answer.refused, answer
        assert answer.answer.startswith("يحصل الموظف بدوام كامل على ٣٠ يوماً")
        assert answer.answer.endswith("[1]") and answer.language == "ar"
        (cited,) = answer.citations
        assert cited.evidence is not None and "٣٠" in cited.evidence
    finally:
        res.close()
