"""Helpers for the audit tests: a log under tmp_path, a clock the test moves, and an
"attacker" connection that does what someone holding the database file could do."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from assistant.audit import AuditLog, AuditRecord, RetentionPolicy
from assistant.audit.keys import generate


class Clock:
    """A UTC clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_log(
    root: Path,
    *,
    every: int = 5,
    minutes: float = 60.0,
    clock: Clock | None = None,
    keygen: bool = True,
    retention: RetentionPolicy | None = None,
) -> AuditLog:
    key = root / "keys" / "audit.key"
    pub = root / "keys" / "audit.key.pub"
    if keygen and not key.exists():
        generate(key, pub)
    return AuditLog(
        root / "audit",
        key_path=key,
        public_key_path=pub,
        copy_dir=root / "copies",
        checkpoint_every=every,
        checkpoint_minutes=minutes,
        retention=retention,
        clock=clock or Clock(),
        seal_on_close=False,
    )


def fill(log: AuditLog, n: int, *, actor: str = "alice", step_s: float = 1.0) -> list[AuditRecord]:
    """``n`` question records with a recognisable note and personal texts."""
    out = []
    for i in range(1, n + 1):
        if isinstance(log.clock, Clock):
            log.clock.advance(seconds=step_s)
        out.append(
            log.record(
                "question",
                actor,
                {"note": f"original-{i:04d}"},
                {"question": f"question number {i}?", "answer": f"answer {i}"},
            )
        )
    return out


@contextmanager
def attacker(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Raw write access to a log database, its safety triggers dropped."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f"DROP TRIGGER {name}")
        yield db
    finally:
        db.close()
