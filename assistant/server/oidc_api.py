"""Single sign-on pages: to the OpenID provider and back (the flow is auth/oidc.py's).

``GET /auth/oidc/login`` sends the browser to the provider with a fresh state, bound to
this browser by a short-lived cookie; ``GET /auth/oidc/callback`` checks it, lets the
client exchange the code and verify the ID token, opens a session as the sign-in form
does, and goes on to the page the user asked for. Any failure (a state this browser did
not start or already used, a refused code, an ID token with a bad signature, another
issuer or audience, expired, the wrong nonce) shows the sign-in page with the reason
(local accounts stay usable) and is audited as a failed sign-in. Sign-out
(server/auth.py) also ends the session at the provider.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from assistant.auth.access import AccessControl, Forbidden, NotAuthenticated
from assistant.auth.oidc import PENDING_S, OidcClient
from assistant.server.auth import (
    client_address,
    is_tls,
    login_template,
    safe_next,
    session_cookie,
)
from assistant.server.i18n import page_locale, translate
from assistant.settings import Settings

STATE_COOKIE = "assistant_oidc_state"
PATH = "/auth/oidc"


def _redirect_uri(request: Request[Any, Any, Any], settings: Settings) -> str:
    return settings.oidc_redirect_url or f"{str(request.base_url).rstrip('/')}{PATH}/callback"


class OidcController(Controller):
    path = PATH
    include_in_schema = False

    @get("/login", sync_to_thread=True)
    def start(
        self,
        request: Request[Any, Any, Any],
        oidc: OidcClient | None,
        access: AccessControl,
        settings: Settings,
        next: str = "/",
    ) -> Redirect:
        if oidc is None:
            raise NotFoundException("single sign-on is not configured")
        url, state = oidc.begin(_redirect_uri(request, settings), safe_next(next))
        response = Redirect(url, status_code=303)
        secure = settings.cookie_secure
        response.cookies.append(
            Cookie(  # lax: the provider's redirect back is a top-level navigation
                key=STATE_COOKIE,
                value=state,
                httponly=True,
                samesite="lax",
                path=PATH,
                max_age=int(PENDING_S),
                secure=is_tls(request, access) if secure is None else secure,
            )
        )
        return response

    @get("/callback", sync_to_thread=True)
    def callback(
        self,
        request: Request[Any, Any, Any],
        oidc: OidcClient | None,
        access: AccessControl,
        settings: Settings,
        code: str | None = None,
        returned_state: Annotated[str | None, Parameter(query="state")] = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Redirect | Template:
        if oidc is None:
            raise NotFoundException("single sign-on is not configured")
        try:
            if error or not code or not returned_state:
                raise NotAuthenticated(error_description or error or "no code in the answer")
            bound = request.cookies.get(STATE_COOKIE)
            identity, next_url = oidc.finish(code, returned_state, bound)
            session = access.sso_login(
                identity.user,
                identity.groups,
                address=client_address(request),
                id_token=identity.id_token,
            )
        except (NotAuthenticated, Forbidden) as exc:
            if isinstance(exc, NotAuthenticated):  # a disabled account is audited already
                access.record(
                    "login_failed",
                    "-",
                    {"address": client_address(request), "via": "oidc", "reason": str(exc)},
                )
            failed = translate(page_locale(request)["locale"], "login.sso_failed")
            page = login_template(request, settings, "/", f"{failed} {exc}", status_code=401)
            page.cookies.append(_clear_state())
            return page
        response = Redirect(next_url, status_code=303)
        response.cookies.append(session_cookie(request, access, settings, session.id))
        response.cookies.append(_clear_state())
        return response


def _clear_state() -> Cookie:
    return Cookie(key=STATE_COOKIE, value="", max_age=0, path=PATH, httponly=True)
