"""Personal data masked: the redactor itself, every log line, and the answers, sources,
stream and audit export of a collection set to redact (and only of such a collection)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from assistant.answering.service import DoneEvent, SourcesEvent, TokenEvent
from assistant.audit.filters import ExportFilter
from assistant.auth.principal import Level
from assistant.errors import ConfigError
from assistant.eval.pii import measure
from assistant.models.embed import HashEmbedder
from assistant.observability.logging import configure_logging
from assistant.resources import Resources
from assistant.settings import Settings, load_settings
from assistant.text.pii import Redactor, iban_ok, luhn
from tests.test_grounding_service import FixedGenerator

ID = "1218814281"  # passes the Luhn check, as Saudi national ID numbers do
REFERRAL = (
    f"# Referral\n\nThe patient, national ID {ID}, can be reached on 0506900679 or "
    "sara.0@example-hospital.org; the referral was approved on 12 March.\n"
)


def test_what_the_redactor_takes_and_leaves() -> None:
    r = Redactor()
    assert luhn(ID) and not luhn(ID[:-1] + "3") and iban_ok("GB82 WEST 1234 5698 7654 32")
    text = f"ID {ID}, mobile ٠٥٠٦٩٠٠٦٧٩, IBAN GB82 WEST 1234 5698 7654 32, form HR-12, 2024."
    assert r.redact(text) == "ID [NATIONAL_ID], mobile [PHONE], IBAN [IBAN], form HR-12, 2024."
    assert r.redact(f"invoice {ID[:-1]}3 is due") == f"invoice {ID[:-1]}3 is due"  # fails Luhn
    extra = Redactor(extra={"EMPLOYEE_NO": r"EMP-\d{6}"})
    assert extra.redact("badge EMP-004512 issued") == "badge [EMPLOYEE_NO] issued"
    with pytest.raises(ConfigError, match="not a regular expression"):
        load_settings(pii_patterns={"BROKEN": "("})


def test_the_measured_set_is_redacted_well() -> None:
    """The synthetic English and Arabic set of make eval (data/eval/pii.jsonl)."""
    report = measure(Path(__file__).parent.parent / "data" / "eval" / "pii.jsonl")
    assert report["precision"]["value"] >= 0.95 and report["recall"]["value"] >= 0.95, report


def test_every_log_line_is_masked() -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", stream=buf, pii_patterns={"STAFF": r"EMP-\d{6}"})
    try:
        logging.getLogger("tests.pii").warning(
            "could not mail %s about %s",
            "sara.0@example-hospital.org",
            ID,
            extra={"who": "EMP-123456"},
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = json.loads(buf.getvalue().splitlines()[-1])
    assert line["event"] == "could not mail [EMAIL] about [NATIONAL_ID]"
    assert line["who"] == "[STAFF]"
    assert ID not in buf.getvalue() and "example-hospital" not in buf.getvalue()


def _ask(settings: Settings, tmp_path: Path, *, redact: bool) -> tuple[Resources, list[object]]:
    docs = tmp_path / ("masked" if redact else "plain")
    docs.mkdir()
    (docs / "referral.md").write_text(REFERRAL)
    reply = f"The patient's national ID is {ID} and the mobile is 0506900679 [1]."
    res = Resources(settings, embedder=HashEmbedder(), generator=FixedGenerator(reply))
    res.ingestor.ingest([docs], "clinic")
    res.access.set_collection(
        "clinic", frozenset({"staff"}), Level.public, actor="test", redact_pii=redact
    )
    events = list(res.answers.stream("What is the patient's national ID and mobile?", user="u"))
    return res, events


def test_a_redacting_collection_masks_answer_sources_and_export(
    settings: Settings, tmp_path: Path
) -> None:
    res, events = _ask(settings, tmp_path, redact=True)
    try:
        (sources,) = [e for e in events if isinstance(e, SourcesEvent)]
        assert all(ID not in s.quote for s in sources.sources)
        assert any("[NATIONAL_ID]" in s.quote and "[EMAIL]" in s.quote for s in sources.sources)
        tokens = "".join(e.text for e in events if isinstance(e, TokenEvent))
        assert ID not in tokens and "0506900679" not in tokens  # never streamed in the clear
        (done,) = [e for e in events if isinstance(e, DoneEvent)]
        answer = done.answer
        assert not answer.refused, answer  # checked against the passages as they are
        assert answer.answer.startswith("The patient's national ID is [NATIONAL_ID]")
        assert "[PHONE]" in answer.answer and ID not in json.dumps(answer.to_dict())

        out = io.StringIO()
        res.audit.export(
            out, "jsonl", ExportFilter(kinds=("question",)), actor="olga", mask=res.pii_mask
        )
        assert ID not in out.getvalue() and "[NATIONAL_ID]" in out.getvalue()
    finally:
        res.close()


def test_a_collection_not_set_to_redact_shows_everything(
    settings: Settings, tmp_path: Path
) -> None:
    res, events = _ask(settings, tmp_path, redact=False)
    try:
        (done,) = [e for e in events if isinstance(e, DoneEvent)]
        assert ID in done.answer.answer
        assert "".join(e.text for e in events if isinstance(e, TokenEvent)).strip()
        out = io.StringIO()
        res.audit.export(
            out, "jsonl", ExportFilter(kinds=("question",)), actor="olga", mask=res.pii_mask
        )
        assert ID in out.getvalue()
    finally:
        res.close()
