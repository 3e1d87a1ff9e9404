"""Structured JSON logs (structlog) carrying the request id, for the server process.

One renderer for everything: our structlog loggers, the stdlib loggers used
across the code base and uvicorn's own all end in the same JSON-lines handler
on stderr, each line with ``timestamp``, ``level``, ``logger``, ``event``, the
event's fields and, inside a request, ``request_id`` (bound in a contextvar by
the request middleware, so it follows the request into worker threads too).

Our structlog loggers hand their key-value pairs to the stdlib as ``extra``
(``render_to_log_kwargs``), so until ``configure_logging`` runs they behave as
plain stdlib loggers (tests, the CLI) and no global structlog state is kept.

Logs never hold question or answer texts unless the operator sets
``log_content``: those are personal data and the audit log is their place.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import structlog
from structlog.typing import Processor

from assistant.text.pii import Redactor

#: An incoming ``X-Request-ID`` is kept only if it looks like an id: short, no spaces or
#: control characters that could forge log lines or headers.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

#: Marks the handler we install, so a second configure_logging() replaces, never stacks.
_HANDLER_NAME = "assistant-json"


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is a sane token (a proxy's ``$request_id``), else a new one."""
    if header and _SANE_ID.match(header):
        return header
    return new_request_id()


def get_logger(name: str) -> Any:
    """A structlog logger over the stdlib logger ``name``; key-value pairs become JSON fields."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def _drop_colour(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn passes an ANSI-coloured copy of each message as an extra: not for JSON."""
    event.pop("color_message", None)
    return event


def _pre_chain() -> list[Processor]:
    """Turn any stdlib record (ours carry their fields as ``extra``) into an event dict."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        _drop_colour,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def masking(redactor: Redactor) -> Processor:
    """A processor masking personal data in every string of the event (assistant/text/pii.py):
    an e-mail address in an error message, an ID in a file name, never reach the log."""

    def processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            event[key] = redactor.redact_all(value)
        return event

    return processor


def json_handler(
    stream: IO[str] | None = None, *, redactor: Redactor | None = None
) -> logging.Handler:
    """A stdlib handler rendering any record as one JSON line, personal data masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_pre_chain(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                masking(redactor or Redactor()),  # always: logs are kept and shipped
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    return handler


def configure_logging(
    level: str = "INFO",
    *,
    stream: IO[str] | None = None,
    pii_patterns: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send all logs of this process, as JSON lines, to ``stream`` (stderr).

    Call it at an entry point (``assistant serve``), then run uvicorn with
    ``log_config=None`` so its loggers propagate here instead of to its own
    handlers. Returns the installed handler (tests remove it afterwards).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = json_handler(stream, redactor=Redactor(extra=pii_patterns))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).propagate = True
    return handler
