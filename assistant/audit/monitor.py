"""The last verification result, refreshed in the background, for the review page's header.

Verifying re-hashes every record and payload: seconds at 100,000 events. A
page cannot wait for that, and must not start it on every load. So the
monitor keeps the last result with its time, starts one background run when
that result is older than ``max_age`` (or when asked), and answers at once
with what it has -- "checking…" the first time.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from assistant.audit.log import AuditLog
from assistant.audit.records import format_ts
from assistant.domain import utcnow

log = logging.getLogger(__name__)

State = Literal["never", "ok", "failed", "error"]


@dataclass(frozen=True, slots=True)
class VerifyStatus:
    state: State  # of the last finished run
    running: bool = False
    checked_at: str | None = None  # when the last finished run started, UTC
    seconds: float | None = None
    records: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "running": self.running,
            "checked_at": self.checked_at,
            "seconds": self.seconds,
            "records": self.records,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "problems": self.problems,
            "warnings": self.warnings,
        }


class VerifyMonitor:
    def __init__(
        self,
        audit: AuditLog,
        *,
        max_age: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._audit = weakref.ref(audit)  # a closed, dropped log stops being verified
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._last = VerifyStatus("never")
        self._last_at: datetime | None = None
        self._thread: threading.Thread | None = None

    def status(self) -> VerifyStatus:
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            return replace(self._last, running=running)

    def refresh(self, *, force: bool = False) -> VerifyStatus:
        """Start a background run if none is running and the last result is stale (or
        ``force``); return the status as it is now."""
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            stale = self._last_at is None or self.clock() - self._last_at >= self.max_age
            if not busy and (force or stale):
                self._thread = threading.Thread(target=self._run, name="audit-verify", daemon=True)
                self._thread.start()
                busy = True
            return replace(self._last, running=busy)

    def wait(self, timeout: float | None = None) -> VerifyStatus:
        """Block until the running check (if any) finishes: for tests and the CLI."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def _run(self) -> None:
        audit = self._audit()
        if audit is None:
            return
        started = self.clock()
        t0 = time.perf_counter()
        try:
            report = audit.verify()
        except Exception as exc:  # a closed or unreadable log: say so in the header
            log.exception("background audit verification failed")
            result = VerifyStatus("error", problems=[f"{type(exc).__name__}: {exc}"])
        else:
            result = VerifyStatus(
                "ok" if report.ok else "failed",
                records=report.records,
                last_seq=report.last_seq,
                checkpoints=report.checkpoints,
                problems=[str(p) for p in report.problems[:20]],
                warnings=list(report.warnings),
            )
        result = replace(
            result, checked_at=format_ts(started), seconds=round(time.perf_counter() - t0, 3)
        )
        with self._lock:
            self._last, self._last_at = result, started


_MONITORS: weakref.WeakKeyDictionary[AuditLog, VerifyMonitor] = weakref.WeakKeyDictionary()
_MONITORS_LOCK = threading.Lock()


def monitor_for(audit: AuditLog, *, max_age: timedelta) -> VerifyMonitor:
    """The one monitor of ``audit`` in this process."""
    with _MONITORS_LOCK:
        found = _MONITORS.get(audit)
        if found is None:
            found = _MONITORS[audit] = VerifyMonitor(audit, max_age=max_age)
        found.max_age = max_age
        return found
