"""The web application factory."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from assistant import __version__
from assistant.resources import Resources
from assistant.server.api import AskController, HealthController
from assistant.server.errors import EXCEPTION_HANDLERS
from assistant.server.pages import PagesController
from assistant.settings import Settings

log = logging.getLogger(__name__)


def templates_dir() -> Path:
    """``templates/`` beside the packages (a checkout), or packed inside ``assistant`` (a wheel)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "templates", here / "_templates"):
        if candidate.is_dir():
            return candidate
    raise RuntimeError("templates folder not found")


def _warm_up(resources: Resources) -> None:
    """Load the embedder, index and model in the background so the first question is fast."""
    try:
        _ = resources.retriever
        load = getattr(resources.generator, "load", None)
        if callable(load):
            load()
        log.info("models loaded")
    except Exception:  # readiness reports it; the page still serves
        log.exception("warm-up failed")


def create_app(
    settings: Settings, resources: Resources | None = None, *, warm_up: bool = True
) -> Litestar:
    resources = resources or Resources(settings)
    tdir = templates_dir()

    def on_startup() -> None:
        if warm_up:
            threading.Thread(
                target=_warm_up, args=(resources,), daemon=True, name="warm-up"
            ).start()

    return Litestar(
        route_handlers=[
            PagesController,
            AskController,
            HealthController,
            create_static_files_router(path="/static", directories=[tdir / "static"]),
        ],
        dependencies={
            "resources": Provide(lambda: resources, sync_to_thread=False, use_cache=True)
        },
        template_config=TemplateConfig(directory=tdir, engine=JinjaTemplateEngine),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="On-premise assistant", version=__version__),
        on_startup=[on_startup],
        on_shutdown=[resources.close],
    )
