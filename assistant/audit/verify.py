"""Re-derive everything the log claims and say what and where it differs.

Checked: each record's bytes against its hash (edits); that seq has no gaps
(deletions) and each position holds its own seq (reorders); each ``prev_hash``
link; the searchable columns and the collection index against the hashed
bytes (so a filter cannot be made to hide a record); timestamps never going
back; every checkpoint's signature with the configured public key (forgery)
and its root against the Merkle tree recomputed from the records; that no
checkpoint -- in the log or in the copy directory -- covers more records than
the log has (tail truncation); the retention anchor; and every personal
payload against its commitment, or a tombstone where it was erased.

Records after the last checkpoint are protected by the chain alone: dropping
them leaves no trace. Checkpoints every N records or M minutes bound that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from assistant.audit.chain import Anchor, ChainStore
from assistant.audit.checkpoint import ORIGIN_PREFIX, Checkpoint, read_copies
from assistant.audit.keys import key_id, load_public
from assistant.audit.kinds import collections_of
from assistant.audit.merkle import Frontier, leaf_hash
from assistant.audit.payloads import PayloadStore, commitment
from assistant.audit.records import GENESIS_HASH, KINDS, EventKind, decode_body, format_ts
from assistant.errors import AuditError, AuditKeyError

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # edited | deleted | reordered | link | timestamp | truncated | forged | root | ...
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"[{self.kind}] {where}{self.message}"


@dataclass(slots=True)
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    checkpoints: int = 0
    latest_checkpoint: dict[str, Any] | None = None
    payloads: int = 0
    erased_payloads: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, seq: int | None, message: str) -> None:
        self.problems.append(Problem(kind, seq, message))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["problems"] = [asdict(p) | {"text": str(p)} for p in self.problems]
        return out


def verify_log(
    chain: ChainStore,
    payloads: PayloadStore,
    *,
    public_key_path: Path,
    copy_dir: Path,
    now: datetime,
) -> VerifyReport:
    report = VerifyReport()
    # copies first: each was written after its checkpoint committed, so the snapshot taken
    # next holds every record a copy covers (no false "truncated" under a live writer)
    copies, bad_copies = read_copies(copy_dir)
    for bad in bad_copies:
        report.add("checkpoint", None, f"unreadable checkpoint copy {bad}")
    try:
        key: Ed25519PublicKey | None = load_public(public_key_path)
    except AuditKeyError as exc:
        key = None
        report.warnings.append(f"signatures not checked: {exc.message}")
    needed: dict[str, int] = {}
    with chain.snapshot() as db:
        origin = ORIGIN_PREFIX + chain.log_id
        anchor = ChainStore.anchor(db)
        checkpoints = _collect_checkpoints(ChainStore.checkpoints(db), copies, report, copy_dir)
        for cp in {id(c): c for cps in checkpoints.values() for c in cps}.values():
            _check_signature(cp, key, origin, report)
        if key is None and checkpoints:
            report.add("key", None, f"{len(checkpoints)} checkpoint(s) but no public key")
        frontier, prev_hash, prev_ts = Frontier(), GENESIS_HASH, None
        if anchor is not None:
            frontier, prev_hash, prev_ts = anchor.frontier.copy(), anchor.last_hash, anchor.last_ts
            _check_anchor(anchor, checkpoints, key, origin, report)
        anchor_justified = anchor is None
        indexed = ChainStore.collection_index(db)  # the review page filters on it
        pending = sorted(s for s in checkpoints if s > frontier.size)
        expected = frontier.size + 1
        latest_ok = format_ts(now + CLOCK_SKEW)
        for seq, ts_col, kind_col, actor_col, ph_col, hash_col, body in ChainStore.rows(db):
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                report.add("deleted", expected, f"record(s) {gap} missing before seq {seq}")
            elif seq < expected:
                report.add("anchor", seq, "record survives behind the retention anchor")
            expected = seq + 1
            report.records += 1
            report.first_seq = report.first_seq or seq
            report.last_seq = seq
            computed = leaf_hash(body)
            frontier.append(computed)
            if computed.hex() != hash_col:
                report.add("edited", seq, "the record's bytes do not match its hash")
            try:
                rec = decode_body(body, hash_col)
            except AuditError as exc:
                report.add("edited", seq, f"the record is unreadable: {exc.message}")
                prev_hash = hash_col
                continue
            if rec.seq != seq:
                report.add("reordered", seq, f"position {seq} holds record {rec.seq}")
            elif rec.prev_hash != prev_hash:
                report.add("link", seq, "prev_hash does not match the previous record's hash")
            if (ts_col, kind_col, actor_col, ph_col) != (
                rec.ts,
                rec.kind,
                rec.actor,
                rec.payload_hash,
            ):
                report.add("edited", seq, "a searchable column differs from the hashed record")
            if indexed.pop(seq, set()) != collections_of(rec.kind, rec.data):
                report.add("index", seq, "the collection index differs from the hashed record")
            if rec.kind not in KINDS:
                report.add("edited", seq, f"unknown event kind {rec.kind!r}")
            if prev_ts is not None and rec.ts < prev_ts:
                report.add("timestamp", seq, f"dated {rec.ts}, before the previous {prev_ts}")
            if rec.ts > latest_ok:  # fixed-width UTC: string order is time order
                report.add("timestamp", seq, f"dated in the future ({rec.ts})")
            if rec.payload_hash is not None:
                needed[rec.payload_hash] = seq
            if (
                rec.kind == EventKind.RETENTION_PURGE
                and anchor is not None
                and rec.data.get("anchor_tree_size") == anchor.tree_size
            ):
                anchor_justified = True
            while pending and pending[0] <= seq:
                size = pending.pop(0)
                root = frontier.root().hex() if frontier.size == size else ""
                _check_root(size, checkpoints[size], root, rec.ts, report)
            prev_hash, prev_ts = hash_col, rec.ts
        if pending:
            top = max(pending)
            newest = max(checkpoints[top], key=lambda c: c.timestamp)
            report.add(
                "truncated",
                report.last_seq + 1,
                f"the log ends at seq {report.last_seq} but the checkpoint signed "
                f"{newest.timestamp} covers {top} records: the tail was cut",
            )
        if not anchor_justified:
            report.add("anchor", None, "a prefix was dropped without a retention_purge record")
    _summarise_checkpoints(checkpoints, report)
    _check_payloads(payloads, needed, report)
    return report


def _collect_checkpoints(
    stored: dict[int, tuple[bytes, str]],
    copies: dict[int, Checkpoint],
    report: VerifyReport,
    copy_dir: Path,
) -> dict[int, list[Checkpoint]]:
    out: dict[int, list[Checkpoint]] = {}
    for size, (body, _) in stored.items():
        try:
            out[size] = [Checkpoint.from_bytes(body)]
        except AuditError as exc:
            report.add("checkpoint", None, f"stored checkpoint {size} unreadable: {exc.message}")
    for size, cp in copies.items():
        mine = out.get(size)
        if mine is None:
            report.add(
                "checkpoint",
                None,
                f"checkpoint {size} (signed {cp.timestamp}) is in {copy_dir} but not in the log",
            )
            out[size] = [cp]
        elif mine[0] != cp:
            report.add("checkpoint", None, f"checkpoint {size} differs between log and copy")
            mine.append(cp)
    missing = sorted(set(out) - set(copies))
    if missing:
        report.warnings.append(f"{len(missing)} checkpoint(s) have no copy in {copy_dir}")
    return out


def _check_signature(
    cp: Checkpoint, key: Ed25519PublicKey | None, origin: str, report: VerifyReport
) -> None:
    if cp.origin != origin:
        report.add("forged", None, f"checkpoint {cp.tree_size} is for another log ({cp.origin})")
    if key is not None and not cp.valid_for(key):
        report.add(
            "forged",
            None,
            f"checkpoint {cp.tree_size} (signed {cp.timestamp}, key {cp.key_id}) does not "
            f"verify with the audit public key {key_id(key)}",
        )


def _check_root(
    size: int, cps: list[Checkpoint], root: str, last_ts: str, report: VerifyReport
) -> None:
    for cp in cps:
        if cp.root != root:
            report.add(
                "root",
                size,
                f"records 1..{size} do not hash to the root signed {cp.timestamp}",
            )
        if cp.timestamp < last_ts:
            report.add("timestamp", size, f"checkpoint {size} is dated before its last record")


def _check_anchor(
    anchor: Anchor,
    checkpoints: dict[int, list[Checkpoint]],
    key: Ed25519PublicKey | None,
    origin: str,
    report: VerifyReport,
) -> None:
    cp: Checkpoint = anchor.checkpoint
    _check_signature(cp, key, origin, report)
    if cp.tree_size != anchor.tree_size or anchor.frontier.root().hex() != cp.root:
        report.add("anchor", anchor.tree_size, "the retention anchor does not match its checkpoint")
    if cp not in checkpoints.get(anchor.tree_size, []):
        report.add("anchor", anchor.tree_size, "the anchor's checkpoint is not among the log's")


def _summarise_checkpoints(checkpoints: dict[int, list[Checkpoint]], report: VerifyReport) -> None:
    report.checkpoints = len(checkpoints)
    if not checkpoints:
        if report.records:
            report.warnings.append(
                "no signed checkpoint yet: a cut tail or a rewritten chain would go unnoticed "
                "(run `assistant audit keygen`, then `assistant audit checkpoint`)"
            )
        return
    top = max(checkpoints)
    report.latest_checkpoint = checkpoints[top][0].to_dict()
    unsigned = report.last_seq - top
    if unsigned > 0:
        report.warnings.append(f"{unsigned} record(s) after the last checkpoint: chain-only")


def _check_payloads(payloads: PayloadStore, needed: dict[str, int], report: VerifyReport) -> None:
    present: set[str] = set()
    for digest, salt, body in payloads.scan():
        present.add(digest)
        if commitment(salt, body) != digest:
            report.add("payload", needed.get(digest), "the personal payload was edited")
    erased = payloads.erased_hashes()
    for digest, seq in needed.items():
        if digest in present:
            report.payloads += 1
        elif digest in erased:
            report.erased_payloads += 1
        else:
            report.add("payload", seq, "the personal payload is missing and was never erased")


def format_report(report: VerifyReport, *, limit: int = 30) -> str:
    lines = [
        f"{'OK' if report.ok else 'FAILED'}: {report.records} records "
        f"(seq {report.first_seq or 0}..{report.last_seq}), {report.checkpoints} checkpoints, "
        f"{report.payloads} payloads, {report.erased_payloads} erased"
    ]
    lines += [f"  {p}" for p in report.problems[:limit]]
    if len(report.problems) > limit:
        lines.append(f"  … and {len(report.problems) - limit} more")
    lines += [f"  warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def report_json(report: VerifyReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)
