"""Which audit records a review, a search or an export asks for: ``ExportFilter``.

Times become a seq range (two index look-ups), a collection uses the
``record_collections`` index (filled from each kind's entry in kinds.py), and
words search the payload store, attached to the snapshot as ``p``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from assistant.audit.payloads import (
    SEARCH_COUNT,
    SEARCH_HASHES,
    SEARCH_PROBE,
    SEARCH_SEEK_MAX,
    match_expression,
)
from assistant.audit.records import event_kind, format_ts
from assistant.errors import AuditError

PAYLOADS_SCHEMA = "p"


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A date (the whole day; ``end`` gives its last microsecond) or an ISO time; UTC if naive."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AuditError(
            f"not a date or time: {text!r}", hint="use 2025-01-31 or 2025-01-31T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ExportFilter:
    start: datetime | None = None
    end: datetime | None = None  # inclusive
    actor: str | None = None
    kinds: tuple[str, ...] = ()
    collection: str | None = None  # records about this collection (``record_collections``)
    text: str | None = None  # words in the question or answer; needs the payloads attached

    def where(self, db: sqlite3.Connection) -> tuple[str, list[Any]]:
        """SQL for the filter. Times become a seq range: ``ts`` never decreases along ``seq``
        (``append_locked`` ensures it, ``verify`` checks it), so two index look-ups bound
        the scan and rows come out in seq order without sorting."""
        clauses: list[str] = []
        args: list[Any] = []
        # (``min(seq) … WHERE ts >= ?`` would walk the rowids from one end: ~70 ms at
        # 100,000 records; ordered by the ts index it is one seek)
        if self.start is not None:
            row = db.execute(
                "SELECT seq FROM records INDEXED BY records_ts WHERE ts >= ? "
                "ORDER BY ts, seq LIMIT 1",
                (format_ts(self.start),),
            ).fetchone()
            clauses.append("seq >= ?")
            args.append(row[0] if row else (1 << 62))
        if self.end is not None:
            row = db.execute(
                "SELECT seq FROM records INDEXED BY records_ts WHERE ts <= ? "
                "ORDER BY ts DESC, seq DESC LIMIT 1",
                (format_ts(self.end),),
            ).fetchone()
            clauses.append("seq <= ?")
            args.append(row[0] if row else 0)
        if self.actor is not None:
            clauses.append("actor = ?")
            args.append(self.actor)
        if self.kinds:
            clauses.append(f"kind IN ({','.join('?' * len(self.kinds))})")
            args.extend(event_kind(k).value for k in self.kinds)
        if self.collection is not None:
            clauses.append("seq IN (SELECT seq FROM record_collections WHERE collection = ?)")
            args.append(self.collection)
        if self.text is not None:
            # the payload store attached as ``p`` (``query``); no word to look for: no match
            expression = match_expression(self.text)
            found = 0
            if expression is not None:
                count = SEARCH_COUNT.format(s=PAYLOADS_SCHEMA)
                found = db.execute(count, (expression,)).fetchone()[0]
            if not found:
                clauses.append("0")
            elif found <= SEARCH_SEEK_MAX:
                clauses.append(f"payload_hash IN ({SEARCH_HASHES.format(s=PAYLOADS_SCHEMA)})")
                args.append(expression)
            else:
                clauses.append(SEARCH_PROBE.format(s=PAYLOADS_SCHEMA))
                args.append(expression)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def to_dict(self) -> dict[str, Any]:
        """The filter as recorded in the chain. The search words may name a person, so only
        the fact of a text search is kept; the words go to the payload (``personal``)."""
        out: dict[str, Any] = {
            "from": format_ts(self.start) if self.start else None,
            "to": format_ts(self.end) if self.end else None,
            "user": self.actor,
            "events": list(self.kinds),
        }
        if self.collection is not None:
            out["collection"] = self.collection
        if self.text is not None:
            out["text_search"] = True
        return out

    def personal(self) -> dict[str, Any] | None:
        return {"text": self.text} if self.text is not None else None

    def attach(self, payloads: Path) -> dict[str, Path]:
        """The databases a snapshot must attach for ``where``: the payloads, for text."""
        return {PAYLOADS_SCHEMA: payloads} if self.text is not None else {}
