"""The review page's reads: one page of matching records, newest first, with their texts.

Why keyset pagination (``before`` / ``after`` a seq) and not OFFSET: an offset
makes SQLite step over every earlier match, so page 2,000 of a 100,000-event
log would cost 2,000 pages; a seq bound is one index seek, whatever the page.
The filter's SQL is ``ExportFilter.where`` -- the same as the export -- so the
export of a view holds exactly the records the view pages through.

Each page is two small queries on one snapshot: the matching seqs (answered
from an index: actor+kind, kind, the collection index or the text index, with
the time range turned into a seq range), then the bodies of just those seqs
and their payloads from the attached payload store. The total is counted up
to ``COUNT_CAP`` so a broad search never scans the whole log for a number.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from assistant.audit.export import PAYLOADS_SCHEMA, ExportFilter
from assistant.audit.kinds import collections_of
from assistant.audit.log import AuditLog
from assistant.audit.records import AuditRecord, decode_body
from assistant.errors import AuditError

COUNT_CAP = 1_000
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Row:
    """One record as the review page shows it. ``problem`` when its bytes do not decode."""

    seq: int
    record: AuditRecord | None
    personal: dict[str, Any] | None = None
    erased: tuple[str, str] | None = None  # (when, why) its texts were erased
    problem: str | None = None

    @property
    def collections(self) -> list[str]:
        return sorted(collections_of(self.record.kind, self.record.data)) if self.record else []


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    total: int  # matching records, counted up to COUNT_CAP
    capped: bool  # more than COUNT_CAP match
    newer: int | None  # pass as ``after`` for the newer page
    older: int | None  # pass as ``before`` for the older page


def _and(where: str, clause: str) -> str:
    return f"{where} AND {clause}" if where else f" WHERE {clause}"


def _hint(flt: ExportFilter) -> str:
    # a user's events: their index, whatever the statistics say (as ``export.query``)
    return " INDEXED BY records_actor_kind" if flt.actor is not None else ""


def page(
    log: AuditLog,
    flt: ExportFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = 50,
) -> Page:
    """The ``size`` newest records matching ``flt`` older than ``before`` (or the oldest
    ``size`` newer than ``after``), newest first."""
    size = max(1, min(size, MAX_PAGE))
    src = f"records{_hint(flt)}"
    with log.chain.snapshot(attach={PAYLOADS_SCHEMA: log.payloads.path}) as db:
        where, args = flt.where(db)

        def seqs_where(clause: str | None, bound: list[int], order: str, limit: int) -> list[int]:
            sql = f"SELECT seq FROM {src}{_and(where, clause) if clause else where}"
            sql += f" ORDER BY seq {order} LIMIT ?"
            return [r[0] for r in db.execute(sql, [*args, *bound, limit])]

        if after is not None:  # the page above ``after``: read upwards, show newest first
            found = seqs_where("seq > ?", [after], "ASC", size + 1)
            seqs = found[:size][::-1]
            more_newer = len(found) > size
            more_older = bool(seqs) and bool(seqs_where("seq < ?", [seqs[-1]], "DESC", 1))
        elif before is not None:
            found = seqs_where("seq < ?", [before], "DESC", size + 1)
            seqs = found[:size]
            more_older = len(found) > size
            more_newer = bool(seqs) and bool(seqs_where("seq > ?", [seqs[0]], "ASC", 1))
        else:  # the first page: the newest COUNT_CAP+1 give the page and the count at once
            found = seqs_where(None, [], "DESC", COUNT_CAP + 1)
            seqs, counted = found[:size], len(found)
            more_older, more_newer = len(found) > size, False
        if after is not None or before is not None:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {src}{where} LIMIT ?)"
            counted = db.execute(sql, [*args, COUNT_CAP + 1]).fetchone()[0]
        rows = _rows(db, seqs)
    return Page(
        rows=rows,
        total=min(counted, COUNT_CAP),
        capped=counted > COUNT_CAP,
        newer=seqs[0] if seqs and more_newer else None,
        older=seqs[-1] if seqs and more_older else None,
    )


def one(log: AuditLog, seq: int) -> Row | None:
    """Record ``seq`` with its texts (or when they were erased); None if there is none."""
    with log.chain.snapshot(attach={PAYLOADS_SCHEMA: log.payloads.path}) as db:
        rows = _rows(db, [seq])
    return rows[0] if rows else None


def _rows(db: sqlite3.Connection, seqs: list[int]) -> list[Row]:
    """Decode the records ``seqs`` (in that order) and fetch their payloads in one go."""
    if not seqs:
        return []
    marks = ",".join("?" * len(seqs))
    found = {
        seq: (digest, body)
        for seq, digest, body in db.execute(
            f"SELECT seq, hash, body FROM records WHERE seq IN ({marks})", seqs
        )
    }
    decoded: dict[int, Row] = {}
    for seq in seqs:
        if seq not in found:
            continue
        try:
            decoded[seq] = Row(seq, decode_body(found[seq][1], found[seq][0]))
        except AuditError as exc:
            decoded[seq] = Row(seq, None, problem=f"record {seq} is unreadable: {exc.message}")
    hashes = [r.record.payload_hash for r in decoded.values() if r.record and r.record.payload_hash]
    texts: dict[str, dict[str, Any]] = {}
    erased: dict[str, tuple[str, str]] = {}
    if hashes:
        marks = ",".join("?" * len(hashes))
        p = PAYLOADS_SCHEMA
        for digest, body in db.execute(
            f"SELECT hash, body FROM {p}.payloads WHERE hash IN ({marks})", hashes
        ):
            texts[digest] = json.loads(body)
        for digest, at, why in db.execute(
            f"SELECT hash, erased_at, reason FROM {p}.erased WHERE hash IN ({marks})", hashes
        ):
            erased[digest] = (at, why)
    out = []
    for seq in seqs:
        row = decoded.get(seq)
        if row is None:
            continue
        digest = row.record.payload_hash if row.record else None
        if digest:
            row = Row(seq, row.record, texts.get(digest), erased.get(digest))
        out.append(row)
    return out
