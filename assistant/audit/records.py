"""What one audit record is, and its exact bytes.

A record's identity is the RFC 6962 leaf hash of its canonical JSON (RFC 8785,
via ``rfc8785``): the same record always has the same bytes on every machine,
so anyone can re-hash an export and get the hash in the log. The body holds
no personal text: that lives in the erasable payload store and the body only
carries ``payload_hash``, a salted commitment to it (see ``payloads``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785

from assistant.audit.kinds import EventKind  # declared with its registry entry
from assistant.audit.merkle import leaf_hash
from assistant.domain import AuditEvent
from assistant.errors import AuditError

RECORD_VERSION = 1
GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record ever written."""

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TS_SHAPE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


KINDS = frozenset(k.value for k in EventKind)


def event_kind(value: str) -> EventKind:
    try:
        return EventKind(value)
    except ValueError:
        raise AuditError(
            f"unknown audit event kind {value!r}",
            hint="one of: " + ", ".join(sorted(KINDS)),
        ) from None


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: sorted keys, no spaces, one spelling per number."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise AuditError(f"audit data is not canonical JSON: {exc}") from exc


def format_ts(moment: datetime) -> str:
    """Fixed-width UTC time with microseconds: string order is time order (SQL ranges)."""
    if moment.tzinfo is None:
        raise AuditError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime(_TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """The inverse of ``format_ts``; any other spelling is refused (``strptime`` is 10x slower)."""
    if not isinstance(text, str) or not _TS_SHAPE.match(text):
        raise AuditError(f"not an audit timestamp: {text!r}")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise AuditError(f"not an audit timestamp: {text!r}") from exc


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One link of the chain. ``hash`` is the leaf hash of ``body()``."""

    seq: int
    ts: str
    kind: str
    actor: str
    prev_hash: str
    data: dict[str, Any] = field(default_factory=dict)
    payload_hash: str | None = None
    hash: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "actor": self.actor,
            "data": self.data,
            "payload_hash": self.payload_hash,
            "prev_hash": self.prev_hash,
        }

    def body(self) -> bytes:
        return canonical(self.fields())

    def computed_hash(self) -> str:
        return leaf_hash(self.body()).hex()

    def sealed(self) -> AuditRecord:
        """The same record with its hash filled in."""
        return AuditRecord(
            self.seq,
            self.ts,
            self.kind,
            self.actor,
            self.prev_hash,
            self.data,
            self.payload_hash,
            self.computed_hash(),
        )

    def to_event(self) -> AuditEvent:
        return AuditEvent(kind=self.kind, actor=self.actor, at=self.ts, data=self.data)

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields(), "hash": self.hash}


def decode_body(body: bytes, stored_hash: str) -> AuditRecord:
    """Parse stored bytes back into a record; malformed bytes raise ``AuditError``."""
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditError(f"record body is not JSON: {exc}") from exc
    return record_from_dict(obj, stored_hash)


def record_from_dict(obj: Any, stored_hash: str) -> AuditRecord:
    if not isinstance(obj, dict):
        raise AuditError("record body is not a JSON object")
    expected = {"v", "seq", "ts", "kind", "actor", "data", "payload_hash", "prev_hash"}
    keys = set(obj) - {"hash"}
    if keys != expected:
        raise AuditError(f"record fields differ: {sorted(keys ^ expected)}")
    if obj["v"] != RECORD_VERSION:
        raise AuditError(f"unsupported record version {obj['v']!r}")
    seq, ts, kind, actor = obj["seq"], obj["ts"], obj["kind"], obj["actor"]
    data, payload_hash, prev_hash = obj["data"], obj["payload_hash"], obj["prev_hash"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AuditError(f"bad seq {seq!r}")
    if not isinstance(ts, str) or not isinstance(kind, str) or not isinstance(actor, str):
        raise AuditError("ts, kind and actor must be strings")
    parse_ts(ts)
    if not isinstance(data, dict):
        raise AuditError("data must be an object")
    if payload_hash is not None and not _is_hex64(payload_hash):
        raise AuditError("payload_hash must be 64 hex digits or null")
    if not _is_hex64(prev_hash):
        raise AuditError("prev_hash must be 64 hex digits")
    return AuditRecord(seq, ts, kind, actor, prev_hash, data, payload_hash, stored_hash)


def _is_hex64(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 64:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return value == value.lower()
