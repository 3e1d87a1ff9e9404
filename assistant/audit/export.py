"""Filtered reads and CSV / JSONL exports of the log; every export is itself audited.

Which records: ``filters.py`` (re-exported here). Records come from their hashed
bytes, never from the searchable columns, so
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

from assistant.audit.filters import PAYLOADS_SCHEMA as PAYLOADS_SCHEMA  # re-exported
from assistant.audit.filters import ExportFilter as ExportFilter
from assistant.audit.filters import parse_when as parse_when
from assistant.audit.records import AuditRecord, EventKind, decode_body, record_from_dict
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


def query(
    log: AuditLog, flt: ExportFilter, *, limit: int | None = None, newest_first: bool = False
) -> Iterator[AuditRecord]:
    """Matching records, from one consistent snapshot, decoded from their hashed bytes."""
    order = "DESC" if newest_first else "ASC"
    # a user's events: their index, whatever the statistics say (one user is few rows)
    hint = " INDEXED BY records_actor_kind" if flt.actor is not None else ""
    with log.chain.snapshot(attach=flt.attach(log.payloads.path)) as db:
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


#: Rewrites one record's texts for an export: (record, texts) -> texts.
Mask = Callable[[AuditRecord, dict[str, Any]], dict[str, Any]]


def export(
    log: AuditLog,
    out: TextIO,
    fmt: Format,
    flt: ExportFilter,
    *,
    actor: str,
    personal: bool = True,
    mask: Mask | None = None,
) -> ExportSummary:
    """Write matching records to ``out``; then record who exported what, even on failure.
    ``mask`` may rewrite a record's texts (personal data masked for its collections)."""
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
            if texts is not None and mask is not None:
                texts = mask(rec, texts)
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
            "masked": mask is not None,
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
