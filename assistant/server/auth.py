"""Sign-in for the web: who is asking, from a session cookie, an API token or a trusted proxy.

Every handler that serves content declares a ``principal`` dependency; there
is no anonymous access. Cookie-authenticated writes need the session's CSRF
token; proxy-authenticated writes must come from the same origin.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from assistant.auth.access import AccessControl, Forbidden, NotAuthenticated
from assistant.auth.oidc import OidcClient
from assistant.auth.principal import Principal
from assistant.server.i18n import page_locale, translate
from assistant.settings import Settings

SESSION_COOKIE = "assistant_session"
LOGIN_CSRF_COOKIE = "assistant_login_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(Forbidden):
    code = "csrf"


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "-"


def is_tls(request: Request[Any, Any, Any], access: AccessControl) -> bool:
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded == "https" and access.is_trusted_proxy(client_address(request))


def _same_origin(request: Request[Any, Any, Any]) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.headers.get("host", "")


def provide_principal(
    request: Request[Any, Any, Any], access: AccessControl, settings: Settings
) -> Principal:
    """Resolve the caller, or raise ``NotAuthenticated``; enforce CSRF on writes."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        principal = access.from_token(auth[7:].strip())
        if principal is None:
            raise NotAuthenticated("invalid or revoked API token")
        return principal  # no cookie, so no cross-site request can carry it

    session = access.session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        if request.method in UNSAFE:
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent, session.csrf):
                raise CsrfRejected("missing or wrong CSRF token")
        request.state.csrf = session.csrf
        return session.principal

    address = client_address(request)
    user = request.headers.get(settings.proxy_user_header.lower(), "").strip()
    if user and access.is_trusted_proxy(address):
        if request.method in UNSAFE and not _same_origin(request):
            raise CsrfRejected("cross-origin write refused")
        groups = request.headers.get(settings.proxy_groups_header.lower(), "")
        principal = access.proxy_principal(user, groups, address=address)
        request.state.csrf = ""
        return principal
    raise NotAuthenticated("sign in first")


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


class AuthController(Controller):
    include_in_schema = False

    @get("/login", sync_to_thread=False)
    def login_page(
        self, request: Request[Any, Any, Any], settings: Settings, next: str = "/"
    ) -> Template:
        return login_template(request, settings, next, None)

    @post("/login", sync_to_thread=True, status_code=303)
    def login(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        settings: Settings,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(data.get("csrf", ""), expected):
            raise CsrfRejected("the sign-in form expired; reload the page")
        address = client_address(request)
        try:
            session = access.login(
                data.get("username", ""), data.get("password", ""), address=address
            )
        except NotAuthenticated:
            failed = translate(page_locale(request)["locale"], "login.failed")
            return login_template(request, settings, data.get("next"), failed, status_code=401)
        response = Redirect(safe_next(data.get("next")), status_code=303)
        response.cookies.append(session_cookie(request, access, settings, session.id))
        return response

    @post("/logout", sync_to_thread=True, status_code=303)
    def logout(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        oidc: OidcClient | None,
        principal: Principal,
    ) -> Redirect:
        ended = access.logout(request.cookies.get(SESSION_COOKIE), address=client_address(request))
        target = "/login"
        if oidc is not None and ended is not None and ended.id_token:  # sign out there too
            back = f"{str(request.base_url).rstrip('/')}/login"
            target = oidc.logout_url(ended.id_token, back) or target
        response = Redirect(target, status_code=303)
        response.cookies.append(
            Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True)
        )
        return response


def login_template(
    request: Request[Any, Any, Any],
    settings: Settings,
    next: str | None,
    error: str | None,
    *,
    status_code: int = 200,
) -> Template:
    """The sign-in page (local accounts, and single sign-on when an issuer is set), with a
    fresh sign-in CSRF token in its cookie."""
    token = secrets.token_urlsafe(24)
    page = Template(
        template_name="login.html",
        context={
            "csrf": token,
            "next": safe_next(next),
            "error": error,
            "sso": settings.oidc_issuer is not None,
            **page_locale(request),
        },
        status_code=status_code,
    )
    page.cookies.append(
        Cookie(key=LOGIN_CSRF_COOKIE, value=token, httponly=True, samesite="strict", path="/login")
    )
    return page


def session_cookie(
    request: Request[Any, Any, Any], access: AccessControl, settings: Settings, session_id: str
) -> Cookie:
    secure = settings.cookie_secure
    return Cookie(
        key=SESSION_COOKIE,
        value=session_id,
        httponly=True,
        samesite="strict",
        secure=is_tls(request, access) if secure is None else secure,
        path="/",
    )
