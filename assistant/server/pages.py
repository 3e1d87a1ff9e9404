"""Server-rendered pages (Jinja2)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from assistant.auth.principal import Principal
from assistant.library import Library
from assistant.settings import Settings


class PagesController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def chat(
        self,
        request: Request[Any, Any, Any],
        library: Library,
        settings: Settings,
        principal: Principal,
    ) -> Template:
        return Template(
            template_name="chat.html",
            context={
                "model": settings.model,
                "draft_model": settings.chat_models[0] if len(settings.chat_models) > 1 else None,
                "counts": library.counts(),
                "user": principal,
                "csrf": getattr(request.state, "csrf", ""),
            },
        )
