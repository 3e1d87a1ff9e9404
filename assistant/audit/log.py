# Over 300 lines: the audit log's whole public surface, each method a thin call into a module.
"""``AuditLog``: the one object the rest of the app talks to.

``record()`` writes the personal part (if any) to the payload store, then
appends the record to the chain under the write lock, then signs a
checkpoint when N records or M minutes have passed since the last one. A
checkpoint that cannot be signed (no key, or a web process that may not read
it) never loses the record: it waits for a process that can sign, such as a
timer running ``assistant audit checkpoint``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from assistant.audit.chain import ChainStore, Tip
from assistant.audit.checkpoint import ORIGIN_PREFIX, Checkpoint, write_copy
from assistant.audit.export import ExportFilter, ExportSummary, Format, Mask, export, query
from assistant.audit.merkle import inclusion_proof
from assistant.audit.payloads import PayloadStore
from assistant.audit.records import (
    AuditRecord,
    EventKind,
    canonical,
    event_kind,
    format_ts,
    parse_ts,
)
from assistant.audit.retention import PurgeReport, RetentionPolicy, purge
from assistant.audit.signer import sign_pending
from assistant.audit.verify import VerifyReport, verify_log
from assistant.domain import utcnow
from assistant.errors import AuditError, AuditKeyError

if TYPE_CHECKING:
    from assistant.settings import Settings

log = logging.getLogger(__name__)

KEY_RETRY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 6962 audit path of one record to a signed checkpoint."""

    seq: int
    leaf_hash: str
    checkpoint: Checkpoint
    path: list[str]


class AuditLog:
    def __init__(
        self,
        audit_dir: Path,
        *,
        key_path: Path,
        public_key_path: Path,
        copy_dir: Path,
        checkpoint_every: int = 1000,
        checkpoint_minutes: float = 5.0,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        seal_on_close: bool = True,
    ) -> None:
        self.audit_dir = audit_dir
        self.key_path = key_path
        self.public_key_path = public_key_path
        self.copy_dir = copy_dir
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = timedelta(minutes=checkpoint_minutes)
        self.retention = retention or RetentionPolicy()
        self.clock = clock
        self.seal_on_close = seal_on_close
        self.chain = ChainStore(audit_dir / "chain.sqlite")
        self.payloads = PayloadStore(audit_dir / "payloads.sqlite")
        self.origin = ORIGIN_PREFIX + self.chain.log_id
        self._cp_size, self._cp_time = self._load_last_checkpoint()
        self._key_retry_at: datetime | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AuditLog:
        """Build from the settings' audit fields (paths, checkpoint cadence, retention)."""
        return cls(
            settings.audit_dir,
            key_path=settings.audit_key_file,
            public_key_path=settings.audit_public_key_file,
            copy_dir=settings.audit_checkpoint_copy,
            checkpoint_every=settings.audit_checkpoint_every,
            checkpoint_minutes=settings.audit_checkpoint_minutes,
            retention=RetentionPolicy(
                settings.audit_retention_default_days, dict(settings.audit_retention_days)
            ),
            **kwargs,
        )

    # -- writing -----------------------------------------------------------------------
    def record(
        self,
        kind: str,
        actor: str,
        data: Mapping[str, Any] | None = None,
        personal: Mapping[str, Any] | None = None,
        *,
        subject: str | None = None,
    ) -> AuditRecord:
        """Append one event. ``data`` is kept for good, so it must hold no personal text;
        ``personal`` goes to the erasable store under ``subject`` (default: the actor)."""
        event = event_kind(kind)
        if not actor or not isinstance(actor, str):
            raise AuditError("an audit record needs an actor")
        fields = dict(data or {})
        canonical(fields)  # fail before anything is written
        now = self.clock()
        payload_hash = None
        if personal:
            payload_hash = self.payloads.put(
                subject or actor, event, format_ts(now), dict(personal)
            )
        try:
            with self.chain.write() as db:
                rec = self.append_locked(db, event, actor, fields, payload_hash, now)
        except BaseException:
            if payload_hash:
                self.payloads.erase_orphan(payload_hash)
            raise
        if rec.seq - self._cp_size >= self.checkpoint_every or self._interval_passed(now):
            self.checkpoint_if_due()
        return rec

    def append_locked(
        self,
        db: Any,
        kind: EventKind,
        actor: str,
        data: dict[str, Any],
        payload_hash: str | None,
        now: datetime,
    ) -> AuditRecord:
        """Link a record to the tip; call inside ``chain.write()``. Time never goes back."""
        tip: Tip = ChainStore.tip(db)
        ts = format_ts(now)
        if tip.ts is not None and ts < tip.ts:
            ts = tip.ts
        rec = AuditRecord(tip.seq + 1, ts, kind.value, actor, tip.hash, data, payload_hash)
        rec = rec.sealed()
        ChainStore.insert(db, rec)
        return rec

    # -- checkpoints -------------------------------------------------------------------
    def _load_last_checkpoint(self) -> tuple[int, datetime | None]:
        with self.chain.snapshot() as db:
            latest = ChainStore.latest_checkpoint(db)
            anchor = ChainStore.anchor(db)
        if latest is None:
            return (anchor.tree_size if anchor else 0), None
        return latest[0].tree_size, parse_ts(latest[0].timestamp)

    def _interval_passed(self, now: datetime) -> bool:
        return self._cp_time is None or now - self._cp_time >= self.checkpoint_interval

    def checkpoint(self, *, force: bool = True) -> Checkpoint | None:
        """Sign the current tree if it grew (and, unless ``force``, if N records or M
        minutes passed). Raises ``AuditKeyError`` when the key cannot be read."""
        now = self.clock()
        with self.chain.write() as db:
            signed = sign_pending(
                db,
                origin=self.origin,
                key_path=self.key_path,
                now=now,
                every=self.checkpoint_every,
                interval=self.checkpoint_interval,
                force=force,
            )
        self._cp_size, self._cp_time = signed.tree_size, signed.since
        cp = signed.checkpoint
        if cp is None:
            return None
        try:
            write_copy(self.copy_dir, cp)
        except OSError:  # the signed checkpoint is in the log; verify reports the missing copy
            log.exception("could not copy audit checkpoint %d to %s", cp.tree_size, self.copy_dir)
        return cp

    def checkpoint_if_due(self) -> Checkpoint | None:
        """Sign if due; a process without the key backs off instead of failing its caller."""
        now = self.clock()
        if self._key_retry_at is not None and now < self._key_retry_at:
            return None
        try:
            cp = self.checkpoint(force=False)
        except AuditKeyError as exc:
            if self._key_retry_at is None:
                log.warning("audit checkpoint deferred: %s", exc.message)
            self._key_retry_at = now + KEY_RETRY
            return None
        self._key_retry_at = None
        return cp

    def start_ticker(self) -> None:
        """Check every minute (or M minutes, if shorter) so a quiet log still gets signed."""
        if self._ticker is not None:
            return
        period = max(1.0, min(60.0, self.checkpoint_interval.total_seconds()))

        def tick() -> None:
            while not self._stop.wait(period):
                try:
                    self.checkpoint_if_due()
                except Exception:
                    log.exception("audit checkpoint failed")

        self._ticker = threading.Thread(target=tick, name="audit-checkpoints", daemon=True)
        self._ticker.start()

    # -- reading ---------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        return verify_log(
            self.chain,
            self.payloads,
            public_key_path=self.public_key_path,
            copy_dir=self.copy_dir,
            now=self.clock(),
        )

    def payload(self, record: AuditRecord) -> dict[str, Any] | None:
        """The personal texts of a record, or None once erased (or if it had none)."""
        return self.payloads.get(record.payload_hash) if record.payload_hash else None

    def prove(self, seq: int) -> InclusionProof:
        """An inclusion proof of record ``seq`` in the newest checkpoint."""
        with self.chain.snapshot() as db:
            latest = ChainStore.latest_checkpoint(db)
            anchor = ChainStore.anchor(db)
            if latest is None or latest[0].tree_size < seq:
                raise AuditError(f"record {seq} is not covered by a checkpoint yet")
            cp = latest[0]
            base = anchor.frontier if anchor else None
            start = base.size if base else 0
            leaves = ChainStore.leaf_hashes(db, start, cp.tree_size)
        path = inclusion_proof(seq - 1, cp.tree_size, lambda i: leaves[i - start], base)
        return InclusionProof(seq, leaves[seq - 1 - start].hex(), cp, [p.hex() for p in path])

    def records(
        self,
        flt: ExportFilter | None = None,
        *,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditRecord]:
        """Records matching ``flt`` (time range, user, kinds), decoded from their hashed bytes."""
        return query(self, flt or ExportFilter(), limit=limit, newest_first=newest_first)

    def export(
        self,
        out: TextIO,
        fmt: Format,
        flt: ExportFilter | None = None,
        *,
        actor: str,
        personal: bool = True,
        mask: Mask | None = None,
    ) -> ExportSummary:
        """Write a CSV or JSONL export; the export is recorded as ``audit_export``."""
        flt = flt or ExportFilter()
        return export(self, out, fmt, flt, actor=actor, personal=personal, mask=mask)

    def purge(self, *, actor: str) -> PurgeReport:
        """Apply retention (see ``retention``); recorded as ``retention_purge``."""
        return purge(self, actor=actor)

    # -- erasure ---------------------------------------------------------------------
    def erase_subject(self, subject: str, *, actor: str, containing: bool = False) -> int:
        """Erase a data subject's texts (by subject, or any text mentioning them); audited."""
        at = format_ts(self.clock())
        if containing:
            n = self.payloads.erase_containing(subject, at=at, reason="erasure request")
        else:
            n = self.payloads.erase_subject(subject, at=at, reason="erasure request")
        # a user's name is in the chain already (as actor); a text searched for is not
        data: dict[str, Any] = {"scope": "payloads_containing", "erased": n}
        if not containing:
            data = {"scope": "payloads_of_subject", "subject": subject, "erased": n}
        self.record(EventKind.ERASURE, actor, data)
        return n

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self.seal_on_close:
            try:
                self.checkpoint()
            except AuditKeyError:
                pass  # a process without the key leaves the tail to the signer
            except Exception:
                log.exception("could not seal the audit log on close")
        self.chain.close()
        self.payloads.close()
