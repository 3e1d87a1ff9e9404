"""Erasure (GDPR Art. 17): a document's chunks, vectors and lexical entries go, with a receipt.

The store side happens inside the caller's transaction, receipt included, so
the deletion and its proof commit together; the chunks' FTS5 rows are queued
in it (assistant/store/fts_purge.py). The caller then removes the FAISS vectors
(``remove_ids``) and tells its listeners, e.g. an answer cache or the audit
log: from there nothing of the document is found, nor can a crash bring it
back. Its housekeeping (``Ingestor.tick``, also run by ``close``) then takes
the rest off the disk: the index saved without the vectors, the FTS5 rows
deleted and merged out, the WAL checkpointed (with ``secure_delete`` the freed
pages are zeroed).
"""

from __future__ import annotations

import getpass
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.domain import utcnow
from assistant.errors import NotFound
from assistant.store.documents import Store
from assistant.store.erasure import unlink_path
from assistant.store.journal import ErasureReceipt, Journal


@dataclass(slots=True)
class Erasure:
    """What one erasure did: paths unlinked, vectors to drop from FAISS, receipts written.

    ``timings`` holds the seconds each step took (``Ingestor._erase_paths`` fills
    it): erasure has a speed target, and the bench reports where the time went.
    """

    paths: list[str] = field(default_factory=list)
    vids: list[int] = field(default_factory=list)
    receipts: list[ErasureReceipt] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def extend(self, other: Erasure) -> None:
        self.paths.extend(other.paths)
        self.vids.extend(other.vids)
        self.receipts.extend(other.receipts)


class Laps:
    """A stopwatch for the steps of an erasure: ``lap(name)`` records the time since the last."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self._last = now


def who(channel: str) -> str:
    """The actor named on a receipt: how the erasure was asked for, and by which OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{channel}:{user}"


def unlink_paths(
    db: sqlite3.Connection,
    paths: Iterable[str],
    *,
    actor: str,
    reason: str,
    retire: bool = False,
) -> Erasure:
    """Unlink ``paths``; each document no other path holds is deleted, with a receipt.

    ``retire`` (a replacement, not an erasure): readers may still resolve the old
    version for a moment (``assistant.store.writes.purge_retired`` removes it).
    """
    done = Erasure()
    at = utcnow().isoformat()
    for path in paths:
        unlinked = unlink_path(db, path, retire=retire)
        Journal.drop_in(db, path)
        if unlinked is None:
            continue
        done.paths.append(path)
        if unlinked.document_deleted:
            done.vids.extend(unlinked.vids)
            receipt = ErasureReceipt(
                doc_id=unlinked.doc_id,
                sha256=unlinked.doc_id,
                at=at,
                actor=actor,
                reason=reason,
                chunks=len(unlinked.vids),
            )
            done.receipts.append(Journal.add_receipt(db, receipt))
    return done


def resolve_targets(store: Store, targets: Iterable[str]) -> list[str]:
    """The stored paths ``targets`` name: paths (files or folders) and document ids
    (or unique id prefixes of 8 or more hex digits). Naming nothing is an error."""
    paths: list[str] = []
    for t in targets:
        found = store.paths_under([t])
        if not found and 8 <= len(t) <= 64 and all(c in "0123456789abcdefABCDEF" for c in t):
            ids = store.doc_ids_like(t.lower())
            if len(ids) > 1:
                raise NotFound(f"{t} matches {len(ids)} documents: give more of the id")
            found = store.paths_of(ids[0]) if ids else []
        if not found:
            raise NotFound(f"nothing indexed under {t}")
        paths.extend(p for p in found if p not in paths)
    return paths
