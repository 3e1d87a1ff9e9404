"""Server-rendered pages (Jinja2), and the page language a user may choose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Template

from assistant.auth.access import AccessControl
from assistant.auth.principal import Principal
from assistant.library import Library
from assistant.server import i18n
from assistant.settings import Settings

#: A year: the choice outlives sessions (it only picks the sign-in page's language).
_COOKIE_AGE_S = 365 * 24 * 3600


class PagesController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def chat(
        self,
        request: Request[Any, Any, Any],
        library: Library,
        settings: Settings,
        access: AccessControl,
        principal: Principal,
    ) -> Template:
        locale = i18n.page_locale(request, access.language(principal))
        return Template(
            template_name="chat.html",
            context={
                **locale,
                "strings": i18n.script_strings(locale["locale"]),  # app.js's, as JSON
                "model": settings.model,
                "draft_model": settings.chat_models[0] if len(settings.chat_models) > 1 else None,
                "counts": library.counts(),
                "checked": settings.verify_grounding,  # streamed text is a draft until checked
                "user": principal,
                "csrf": getattr(request.state, "csrf", ""),
            },
        )


@dataclass
class LanguageChoice:
    language: str | None = None  # "en" | "ar"; null: follow the browser's languages


class PreferencesController(Controller):
    path = "/api/preferences"
    tags = ["preferences"]

    @get("/", sync_to_thread=False, summary="The signed-in user's settings")
    def preferences(self, access: AccessControl, principal: Principal) -> dict[str, Any]:
        return {"language": access.language(principal)}

    @post(
        "/",
        status_code=200,
        sync_to_thread=False,
        summary="Choose the pages' language (en, ar; null: the browser's)",
    )
    def choose_language(
        self, data: LanguageChoice, access: AccessControl, principal: Principal
    ) -> Response[dict[str, Any]]:
        access.set_language(principal, data.language)  # an unknown language is a 400
        response = Response({"language": data.language})
        response.cookies.append(
            Cookie(
                key=i18n.LANGUAGE_COOKIE,
                value=data.language or "",
                max_age=_COOKIE_AGE_S if data.language else 0,
                path="/",
                httponly=True,
                samesite="strict",
            )
        )
        return response
