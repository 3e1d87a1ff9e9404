"""Map errors to HTTP responses -- the one place that does."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from assistant.errors import AssistantError
from assistant.server.i18n import error_detail

log = logging.getLogger(__name__)


def _body(code: str, message: str, hint: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": code, "detail": message}
    if hint:
        body["hint"] = hint
    return body


def stream_error(exc: Exception, language: str = "en") -> tuple[str, str]:
    """(code, detail) of an error that ends a stream already under way (its status is
    sent): what the chat's error event and the OpenAI stream's error chunk carry. The
    detail is in ``language``, the question's: an Arabic question gets the catalogue's
    Arabic sentence for the code (server/catalogue.py); logs and the audit log keep the
    error's own message."""
    if isinstance(exc, AssistantError):
        return exc.code, error_detail(exc.code, exc.message, language)
    log.error("stream ended by an unexpected error", exc_info=exc)
    return "internal_error", error_detail("internal_error", "internal error", language)


def assistant_error(request: Request[Any, Any, Any], exc: AssistantError) -> Response[Any]:
    if exc.code == "not_authenticated" and _wants_page(request):
        return Redirect(f"/login?next={quote(request.url.path)}", status_code=303)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="assistant"'
    return Response(
        _body(exc.code, exc.message, exc.hint),
        status_code=exc.status_code,
        headers=headers or None,
        media_type=MediaType.JSON,
    )


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[object]:
    body = _body("invalid_request", str(exc.detail))
    body["fields"] = exc.extra
    return Response(body, status_code=400, media_type=MediaType.JSON)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[object]:
    return Response(
        _body("http_error", str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type=MediaType.JSON,
    )


def unexpected_error(_: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    log.exception("unhandled error", exc_info=exc)
    return Response(
        _body("internal_error", "internal error"),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS = {
    AssistantError: assistant_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
