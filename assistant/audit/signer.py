"""Making a checkpoint: extend the last signed tree with the new records and sign it.

Runs inside the chain's write transaction, so the tree size it signs is
exactly the records committed. It refuses to sign over a gap or over a
corrupt stored tree state -- a signer must never bless a damaged log.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from assistant.audit import keys
from assistant.audit.chain import ChainStore
from assistant.audit.checkpoint import Checkpoint
from assistant.audit.merkle import Frontier
from assistant.audit.records import format_ts, parse_ts
from assistant.errors import AuditTampered


@dataclass(frozen=True, slots=True)
class Signed:
    """What a signing attempt found: the new checkpoint (if any) and the last signed state."""

    checkpoint: Checkpoint | None
    tree_size: int
    since: datetime  # time of the last checkpoint, or of the oldest unsigned record


def sign_pending(
    db: sqlite3.Connection,
    *,
    origin: str,
    key_path: Path,
    now: datetime,
    every: int,
    interval: timedelta,
    force: bool,
) -> Signed:
    """Sign if the tree grew and (unless ``force``) ``every`` records or ``interval`` passed.

    Raises ``AuditKeyError`` when the key cannot be read, before anything is written."""
    tip = ChainStore.tip(db)
    latest = ChainStore.latest_checkpoint(db)
    if latest is not None:
        last_cp, frontier = latest
        if frontier.size != last_cp.tree_size or frontier.root().hex() != last_cp.root:
            raise AuditTampered("the last checkpoint's stored tree state is corrupt")
        since = parse_ts(last_cp.timestamp)
    else:
        anchor = ChainStore.anchor(db)
        frontier = anchor.frontier.copy() if anchor else Frontier()
        first = db.execute("SELECT ts FROM records WHERE seq = ?", (frontier.size + 1,)).fetchone()
        since = parse_ts(first[0]) if first else now
    pending = tip.seq - frontier.size
    if pending <= 0 or (not force and pending < every and now - since < interval):
        return Signed(None, frontier.size, since)
    leaves = ChainStore.leaf_hashes(db, frontier.size, tip.seq)
    if len(leaves) != pending:
        raise AuditTampered(
            f"records {frontier.size + 1}..{tip.seq} have gaps: refusing to sign",
            hint="run `assistant audit verify`",
        )
    frontier.extend(leaves)
    stamp = format_ts(max(now, parse_ts(tip.ts))) if tip.ts else format_ts(now)
    root = frontier.root().hex()
    signature, kid = keys.sign(key_path, Checkpoint.statement(origin, tip.seq, root, stamp))
    cp = Checkpoint(origin, tip.seq, root, stamp, kid, base64.b64encode(signature).decode())
    ChainStore.insert_checkpoint(db, cp, frontier)
    return Signed(cp, cp.tree_size, parse_ts(stamp))
