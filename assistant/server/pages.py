"""Server-rendered pages (Jinja2)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from assistant.resources import Resources


class PagesController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def chat(self, resources: Resources) -> Template:
        return Template(
            template_name="chat.html",
            context={"model": resources.settings.model, "counts": resources.store.counts()},
        )
