"""Retention: how long each kind of event is kept, and the audited purge.

A hash chain cannot lose a record in the middle, and retention differs per
event kind, so a purge works on two levels:

1. **Payloads, per kind.** The personal texts of records older than their
   kind's retention are erased from the payload store (with tombstones), as
   a data-subject erasure is. The chain stays whole and verifiable.
2. **Records, as a prefix only.** When *every* record up to a signed
   checkpoint has outlived its retention, that prefix is dropped and an
   *anchor* takes its place: the checkpoint, its Merkle frontier (the peaks
   the later roots are computed from) and the last dropped record's hash
   (the next record's ``prev_hash``). ``verify`` checks the anchor against the
   signed root and requires the ``retention_purge`` record that made it.

The default is six years, the HIPAA 164.316(b)(2)(i) documentation period.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from assistant.audit.chain import Anchor, ChainStore
from assistant.audit.checkpoint import Checkpoint
from assistant.audit.merkle import Frontier
from assistant.audit.records import KINDS, AuditRecord, EventKind, format_ts
from assistant.errors import AuditTampered, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from assistant.audit.payloads import PayloadStore


class AuditLog(Protocol):
    """What a purge works on (assistant/audit/log.py's AuditLog)."""

    chain: ChainStore
    payloads: PayloadStore
    retention: RetentionPolicy
    clock: Callable[[], datetime]

    def append_locked(
        self,
        db: Any,
        kind: EventKind,
        actor: str,
        data: dict[str, Any],
        payload_hash: str | None,
        now: datetime,
    ) -> AuditRecord: ...


DEFAULT_DAYS = 6 * 365 + 2  # six years, leap days included


@dataclass(frozen=True)
class RetentionPolicy:
    default_days: int = DEFAULT_DAYS
    per_kind: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.per_kind) - KINDS)
        if unknown:
            raise ConfigError(
                f"audit retention names unknown event kinds: {', '.join(unknown)}",
                hint="kinds: " + ", ".join(sorted(KINDS)),
            )
        for kind, days in {"default": self.default_days, **self.per_kind}.items():
            if days < 1:
                raise ConfigError(f"audit retention for {kind} must be at least 1 day")

    def days(self, kind: str) -> int:
        return self.per_kind.get(kind, self.default_days)

    def cutoffs(self, now: datetime) -> dict[str, str]:
        """Per kind, the timestamp before which records have expired."""
        return {k: format_ts(now - timedelta(days=self.days(k))) for k in sorted(KINDS)}


@dataclass(frozen=True, slots=True)
class PurgeReport:
    payloads_erased: dict[str, int]
    records_dropped: int
    anchor_tree_size: int | None
    record: AuditRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloads_erased": self.payloads_erased,
            "records_dropped": self.records_dropped,
            "anchor_tree_size": self.anchor_tree_size,
            "seq": self.record.seq,
        }


def purge(log: AuditLog, *, actor: str) -> PurgeReport:
    """Apply the retention policy now; the purge itself is a ``retention_purge`` record."""
    now = log.clock()
    at = format_ts(now)
    cutoffs = log.retention.cutoffs(now)
    erased: dict[str, int] = {}
    for kind, cutoff in cutoffs.items():
        n = log.payloads.erase_older(kind, cutoff, at=at, reason="retention")
        if n:
            erased[kind] = n
    with log.chain.write() as db:
        old = ChainStore.anchor(db)
        tip = ChainStore.tip(db)
        limit = _expired_prefix(db, cutoffs, tip.seq)
        row = db.execute(
            "SELECT body, frontier FROM checkpoints WHERE tree_size > ? AND tree_size <= ? "
            "ORDER BY tree_size DESC LIMIT 1",
            (old.tree_size if old else 0, limit),
        ).fetchone()
        dropped, anchor = 0, None
        if row is not None:
            cp = Checkpoint.from_bytes(row[0])
            frontier = Frontier.from_json(json.loads(row[1]))
            if frontier.size != cp.tree_size or frontier.root().hex() != cp.root:
                raise AuditTampered(f"checkpoint {cp.tree_size}'s stored tree state is corrupt")
            last = db.execute(
                "SELECT hash, ts FROM records WHERE seq = ?", (cp.tree_size,)
            ).fetchone()
            if last is None:
                raise AuditTampered(f"record {cp.tree_size} is missing: run verify")
            anchor = Anchor(frontier, last[0], last[1], cp, at)
            dropped = ChainStore.truncate_prefix(db, anchor)
        data = {
            "payloads_erased": erased,
            "records_dropped": dropped,
            "anchor_tree_size": anchor.tree_size if anchor else None,
            "anchor_root": anchor.checkpoint.root if anchor else None,
            "retention_days": {k: log.retention.days(k) for k in sorted(KINDS)},
        }
        rec = log.append_locked(db, EventKind.RETENTION_PURGE, actor, data, None, now)
    return PurgeReport(erased, dropped, anchor.tree_size if anchor else None, rec)


def _expired_prefix(db: Any, cutoffs: dict[str, str], tip_seq: int) -> int:
    """The last seq such that it and every record before it have expired."""
    cursor = db.execute("SELECT seq, ts, kind FROM records ORDER BY seq")
    try:
        for seq, ts, kind in cursor:
            if ts >= cutoffs.get(kind, ""):  # an unknown kind never expires
                return int(seq) - 1
    finally:
        cursor.close()
    return tip_seq
