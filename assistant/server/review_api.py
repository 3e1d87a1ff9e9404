"""The review page's actions: export what the filter shows, and re-verify the log.

Exports reuse ``AuditLog.export`` -- the same bytes, the same ``audit_export``
record with the file's SHA-256 as the CLI's -- and are rate-limited per user.
They are POSTs (a write: they add a record), so a session needs its CSRF
header, sent by ``review.js``. The file is streamed as ``export`` writes it:
a worker thread fills a small bounded queue and the response drains it, so a
100,000-event export never sits in memory, and a download the browser drops
stops the export, which is then recorded as incomplete.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal, TextIO, cast

import anyio
from litestar import Controller, Request, get, post
from litestar.response import Stream

from assistant.audit.export import ExportFilter, Format, Mask
from assistant.audit.log import AuditLog
from assistant.audit.masking import masker
from assistant.audit.records import format_ts
from assistant.auth.access import AccessControl
from assistant.auth.principal import Principal
from assistant.domain import utcnow
from assistant.server.review_pages import NO_STORE, REVIEW_ROLE, InvalidFilter, parse_filter
from assistant.server.review_pages import verify_status as current_status
from assistant.settings import Settings
from assistant.text.pii import Redactor

log = logging.getLogger(__name__)

CHUNK_CHARS = 64 * 1024
QUEUE_CHUNKS = 8
STALLED_S = 300.0  # a reader that takes nothing for this long has gone
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}  # Litestar adds the charset


class _Cancelled(Exception):
    """The reader went away: stop writing (``export`` records the export as incomplete)."""


class _Pipe(io.TextIOBase):
    """A text sink for ``export`` in a worker thread, read as byte chunks by the response."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(QUEUE_CHUNKS)
        self.cancelled = threading.Event()
        self._buf: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buf.append(text)
        self._size += len(text)
        if self._size >= CHUNK_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buf:
            data = "".join(self._buf).encode("utf-8")
            self._buf, self._size = [], 0
            self._put(data)

    def end(self) -> None:
        self._put(None)

    def _put(self, item: bytes | None) -> None:
        waited = 0.0
        while not self.cancelled.is_set():
            try:
                self.chunks.put(item, timeout=1.0)
                return
            except queue.Full:
                waited += 1.0
                if waited >= STALLED_S:
                    self.cancelled.set()
        raise _Cancelled


def _mask(access: AccessControl, settings: Settings) -> Mask:
    return masker(access.store.redacting, Redactor(extra=settings.pii_patterns))


def _run_export(
    audit: AuditLog, pipe: _Pipe, fmt: Format, flt: ExportFilter, user: str, mask: Mask
) -> None:
    try:
        audit.export(cast(TextIO, pipe), fmt, flt, actor=user, personal=True, mask=mask)
        pipe.flush()
    except _Cancelled:
        log.info("audit export by %s stopped: the download was cancelled", user)
        return
    except Exception:  # recorded as incomplete by export(); the file ends short
        log.exception("audit export by %s failed", user)
    with contextlib.suppress(_Cancelled):
        pipe.end()


async def _drain(pipe: _Pipe) -> AsyncIterator[bytes]:
    try:
        while True:
            item = await anyio.to_thread.run_sync(pipe.chunks.get)
            if item is None:
                return
            yield item
    finally:
        pipe.cancelled.set()  # the client went away (or the export ended): stop the writer


class ReviewApiController(Controller):
    path = "/review"
    include_in_schema = False

    @post("/export", sync_to_thread=True, status_code=200)
    def export(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        audit: AuditLog,
        settings: Settings,
        principal: Principal,
        format: Literal["csv", "jsonl"] = "csv",
    ) -> Stream:
        """The records the page's filter matches, with their texts, as CSV or JSONL."""
        access.require_role(principal, REVIEW_ROLE)
        flt, _ = parse_filter(request.query_params)
        access.admit_export(principal)
        pipe = _Pipe()
        worker = threading.Thread(
            target=_run_export,
            # personal data masked in the records of collections set to redact it
            args=(audit, pipe, format, flt, principal.user, _mask(access, settings)),
            name="audit-export",
            daemon=True,
        )
        worker.start()
        stamp = format_ts(utcnow())[:19].replace("-", "").replace(":", "")
        return Stream(
            _drain(pipe),
            media_type=MEDIA[format],
            headers={
                **NO_STORE,
                "Content-Disposition": f'attachment; filename="audit-{stamp}Z.{format}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    @post("/verify", sync_to_thread=False, status_code=202)
    def verify(
        self, access: AccessControl, audit: AuditLog, settings: Settings, principal: Principal
    ) -> dict[str, object]:
        """Start verifying the whole log now, in the background."""
        access.require_role(principal, REVIEW_ROLE)
        return current_status(audit, settings, force=True).to_dict()

    @get("/status", sync_to_thread=False)
    def status(
        self, access: AccessControl, audit: AuditLog, settings: Settings, principal: Principal
    ) -> dict[str, object]:
        """The last verification result (the page polls it while a check runs)."""
        access.require_role(principal, REVIEW_ROLE)
        return current_status(audit, settings).to_dict()


__all__ = ["InvalidFilter", "ReviewApiController"]
