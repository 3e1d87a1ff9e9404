"""Filtered reads and CSV / JSONL exports of the log; every export is itself audited.

Records come from their hashed bytes, never from the searchable columns, so
an exported row can be re-hashed by anyone (``AuditRecord.computed_hash``)
and compared with the hash in the row and in the chain. Personal texts are
added from the payload store while they exist. CSV cells that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@`` …) get a leading ``'``
(OWASP CSV injection) -- reversibly, so ``read_export`` gives back the same
records.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

from assistant.audit.payloads import (
    SEARCH_COUNT,
    SEARCH_HASHES,
    SEARCH_PROBE,
    SEARCH_SEEK_MAX,
    match_expression,
)
from assistant.audit.records import (
    AuditRecord,
    EventKind,
    decode_body,
    event_kind,
    format_ts,
    record_from_dict,
)
from assistant.errors import AuditError, AuditTampered

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assistant.audit.chain import ChainStore
    from assistant.audit.payloads import PayloadStore


class AuditLog(Protocol):
    """What an export reads and records through (assistant/audit/log.py's AuditLog)."""

    chain: ChainStore
    payloads: PayloadStore

    def payload(self, record: AuditRecord) -> dict[str, Any] | None: ...

    def record(
        self,
        kind: str,
        actor: str,
        data: Mapping[str, Any] | None = None,
        personal: Mapping[str, Any] | None = None,
        *,
        subject: str | None = None,
    ) -> AuditRecord: ...


Format = Literal["csv", "jsonl"]
COLUMNS = ("seq", "ts", "kind", "actor", "data", "payload_hash", "prev_hash", "hash", "personal")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
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

    def attach(self, log: AuditLog) -> dict[str, Path]:
        """The databases a snapshot must attach for ``where``: the payloads, for text."""
        return {PAYLOADS_SCHEMA: log.payloads.path} if self.text is not None else {}


def query(
    log: AuditLog, flt: ExportFilter, *, limit: int | None = None, newest_first: bool = False
) -> Iterator[AuditRecord]:
    """Matching records, from one consistent snapshot, decoded from their hashed bytes."""
    order = "DESC" if newest_first else "ASC"
    # a user's events: their index, whatever the statistics say (one user is few rows)
    hint = " INDEXED BY records_actor_kind" if flt.actor is not None else ""
    with log.chain.snapshot(attach=flt.attach(log)) as db:
        where, args = flt.where(db)
        sql = f"SELECT seq, hash, body FROM records{hint}{where} ORDER BY seq {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for seq, digest, body in db.execute(sql, args):
            try:
                yield decode_body(body, digest)
            except AuditError as exc:
                raise AuditTampered(f"record {seq} is unreadable: {exc.message}") from exc


@dataclass(frozen=True, slots=True)
class ExportSummary:
    count: int
    sha256: str
    record: AuditRecord


@dataclass(frozen=True, slots=True)
class ExportedRow:
    record: AuditRecord
    personal: dict[str, Any] | None


class _HashingWriter:
    """Pass text through to ``out`` and hash exactly what was written."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode("utf-8"))
        return self.out.write(text)


def export(
    log: AuditLog,
    out: TextIO,
    fmt: Format,
    flt: ExportFilter,
    *,
    actor: str,
    personal: bool = True,
) -> ExportSummary:
    """Write matching records to ``out``; then record who exported what, even on failure."""
    if fmt not in ("csv", "jsonl"):
        raise AuditError(f"unknown export format {fmt!r}", hint="csv or jsonl")
    sink = _HashingWriter(out)
    count, complete = 0, False
    try:
        writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(COLUMNS)
        for rec in query(log, flt):
            texts = log.payload(rec) if personal else None
            if writer is not None:
                writer.writerow(_csv_row(rec, texts))
            else:
                line = {**rec.to_dict(), "personal": texts}
                sink.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
        complete = True
    finally:
        data = {
            "format": fmt,
            "filters": flt.to_dict(),
            "records": count,
            "personal": personal,
            "sha256": sink.digest.hexdigest(),
            "complete": complete,
        }
        rec = log.record(EventKind.AUDIT_EXPORT, actor, data, flt.personal())
    return ExportSummary(count, sink.digest.hexdigest(), rec)


def _csv_row(rec: AuditRecord, texts: dict[str, Any] | None) -> list[str]:
    cells = [
        str(rec.seq),
        rec.ts,
        rec.kind,
        rec.actor,
        json.dumps(rec.data, ensure_ascii=False, sort_keys=True),
        rec.payload_hash or "",
        rec.prev_hash,
        rec.hash,
        json.dumps(texts, ensure_ascii=False, sort_keys=True) if texts is not None else "",
    ]
    return [_defuse(c) for c in cells]


def _defuse(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _restore(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def read_export(source: str | Iterable[str], fmt: Format) -> list[ExportedRow]:
    """Parse an export back into records (for tests, and for auditors' own tools)."""
    lines = io.StringIO(source) if isinstance(source, str) else source
    rows: list[ExportedRow] = []
    if fmt == "jsonl":
        for line in lines:
            if line.strip():
                obj = json.loads(line)
                texts = obj.pop("personal", None)
                rows.append(ExportedRow(record_from_dict(obj, obj["hash"]), texts))
        return rows
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise AuditError("not an audit CSV export (header differs)")
    for raw in reader:
        cell = dict(zip(COLUMNS, (_restore(c) for c in raw), strict=True))
        obj = {
            "v": 1,
            "seq": int(cell["seq"]),
            "ts": cell["ts"],
            "kind": cell["kind"],
            "actor": cell["actor"],
            "data": json.loads(cell["data"]),
            "payload_hash": cell["payload_hash"] or None,
            "prev_hash": cell["prev_hash"],
        }
        texts = json.loads(cell["personal"]) if cell["personal"] else None
        rows.append(ExportedRow(record_from_dict(obj, cell["hash"]), texts))
    return rows
