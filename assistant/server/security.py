"""Security headers on every response the app sends, pages, API, static files and errors.

deploy/nginx.conf sets the same ones, but a deployment without our nginx file -- another
proxy, or ``assistant serve`` straight on the network -- had none: any site could frame
the chat (clickjacking), and a browser could guess a type for an uploaded text. The pages
need nothing but their own origin: scripts and styles are files under /static, data
comes from same-origin fetch and EventSource, no inline script runs (the page's strings
are a JSON data block, which is not executed), so the policy is ``'self'`` throughout.

A raw ASGI middleware rather than Litestar's ``response_headers``: it also covers what
never reaches a route handler (404s, static files, errors raised before a handler) and a
header a handler set itself is kept.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

#: Only this origin's scripts, styles, images and connections; nothing may frame the app.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


def security_headers(app: ASGIApp) -> ASGIApp:
    """``app`` with :data:`HEADERS` added to every HTTP response that lacks them."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
