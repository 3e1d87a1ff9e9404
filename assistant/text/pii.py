"""Personal data in text, found and masked: e-mail addresses, phone numbers, Saudi national
ID and Iqama numbers, IBANs, payment card numbers, medical record numbers, and patterns an
administrator adds (``ASSISTANT_PII_PATTERNS``).

Numbers are only taken when they check out, which is what keeps precision up on documents
full of figures: a card number passes the Luhn check, an IBAN the ISO 13616 mod-97 check,
a national ID or Iqama number (ten digits, 1... or 2...) its Luhn check digit. A medical
record number has no checksum, so it needs its label ("MRN", "medical record number",
"رقم الملف الطبي"). Arabic-Indic digits count as digits (٠٥٥١٢٣٤٥٦٧ is a mobile number),
and Arabic text around an item is no obstacle. Each finding is replaced by its kind in
brackets ("[EMAIL]"), so a reader still sees that something was there.

Used on every log line (assistant/observability/logging.py), and on the answers, sources
and exports of the collections set to redact (``assistant collections set … --redact-pii``).
Precision and recall on a synthetic English and Arabic set: ``make eval`` (docs/EVAL.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")  # same length

KINDS = ("EMAIL", "IBAN", "CARD", "NATIONAL_ID", "IQAMA", "PHONE", "MRN")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


_PATTERNS: dict[str, str] = {
    "EMAIL": r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    "IBAN": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    "CARD": r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])",
    "ID10": r"(?<![\d-])[12]\d{9}(?![\d-])",
    # Saudi mobiles and landlines, national or international; other international numbers
    "PHONE": (
        r"(?<![\w+])(?:(?:\+|00)966[ -]?|0)(?:5\d|1\d)(?:[ -]?\d){7}(?!\d)"
        r"|(?<![\w+])\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,4}(?!\d)"
        r"|(?<![\w+])\(\d{3}\) ?\d{3}-\d{4}(?!\d)"
    ),
    "MRN": (
        r"(?i:\bMRN|\bmedical record (?:number|no\.?)|رقم الملف الطبي)"
        r"\s*(?:is\s*|:|#|：|-)?\s*(?P<mrn>[A-Z]{0,3}\d{5,10})\b"
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


class Redactor:
    """Finds and masks personal data of ``kinds`` (default: all) and of ``extra``
    (name -> regular expression, an administrator's own)."""

    def __init__(
        self, kinds: Iterable[str] = KINDS, extra: Mapping[str, str] | None = None
    ) -> None:
        wanted = set(kinds)
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in _PATTERNS.items():
            if name in wanted or (name == "ID10" and wanted & {"NATIONAL_ID", "IQAMA"}):
                self._patterns.append((name, re.compile(pattern)))
        for name, pattern in (extra or {}).items():
            self._patterns.append((name.upper(), re.compile(pattern)))
        self._wanted = wanted | {n.upper() for n in extra or {}}

    def find(self, text: str) -> list[Finding]:
        """Non-overlapping findings, in order; the earlier pattern wins a tie of position."""
        plain = text.translate(_DIGITS)
        found: list[Finding] = []
        for name, pattern in self._patterns:
            for m in pattern.finditer(plain):
                kind = self._check(name, m)
                if kind is None or kind not in self._wanted:
                    continue
                start, end = m.span("mrn") if name == "MRN" else m.span()
                found.append(Finding(kind, start, end))
        found.sort(key=lambda f: (f.start, -(f.end - f.start)))
        kept: list[Finding] = []
        for f in found:
            if not kept or f.start >= kept[-1].end:
                kept.append(f)
        return kept

    @staticmethod
    def _check(name: str, m: re.Match[str]) -> str | None:
        digits = re.sub(r"\D", "", m.group(0))
        if name == "CARD":
            return "CARD" if 13 <= len(digits) <= 19 and luhn(digits) else None
        if name == "IBAN":
            return "IBAN" if iban_ok(m.group(0)) else None
        if name == "ID10":
            if not luhn(digits):
                return None
            return "NATIONAL_ID" if digits[0] == "1" else "IQAMA"
        return name

    def redact(self, text: str) -> str:
        """``text`` with each finding replaced by ``[KIND]``."""
        out, last = [], 0
        for f in self.find(text):
            out += [text[last : f.start], f"[{f.kind}]"]
            last = f.end
        out.append(text[last:])
        return "".join(out)

    def redact_all(self, value: Any) -> Any:
        """``value`` with every string in it redacted, through dicts, lists and tuples."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_all(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_all(v) for v in value]
        return value
