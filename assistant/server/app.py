"""The web application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from assistant import __version__
from assistant.answering.service import AnswerService
from assistant.audit.events import record_settings
from assistant.audit.feedback import FeedbackBook
from assistant.auth.oidc import oidc_client
from assistant.auth.principal import Principal
from assistant.library import Library
from assistant.observability.metrics import Metrics
from assistant.observability.readiness import Readiness
from assistant.observability.requests import AppObserver, RequestObservability
from assistant.resources import Resources
from assistant.server.admin import AdminController
from assistant.server.api import AskController, HealthController
from assistant.server.auth import AuthController, provide_principal
from assistant.server.errors import EXCEPTION_HANDLERS
from assistant.server.feedback_api import FeedbackController
from assistant.server.history_api import HistoryController
from assistant.server.i18n import install as install_i18n
from assistant.server.metrics_api import MetricsController
from assistant.server.oidc_api import OidcController
from assistant.server.openai_api import OpenAIController
from assistant.server.pages import PagesController, PreferencesController
from assistant.server.review_api import ReviewApiController
from assistant.server.review_pages import ReviewController
from assistant.server.security import security_headers
from assistant.server.threads import size_answer_pool
from assistant.server.upload_api import UploadController
from assistant.settings import Settings
from ingest.watch import service_from_settings

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
        resources.retriever.search("warm-up")  # loads the embedder and the index; a large
        # store also starts building its in-memory lexical postings (retrieval/lexical.py)
        answers = resources.answers  # its generator answers first: the draft model, if set
        if getattr(answers.generator, "load", None) is not None:  # a real model, not a stand-in
            answers.warm_up()  # loads it and reads the system prompt into its KV cache
        log.info("models loaded")
    except Exception:  # readiness reports it; the page still serves
        log.exception("warm-up failed")


def _services(resources: Resources) -> dict[str, Provide]:
    """Each handler is given the services it declares, each built on the first request that
    needs it (the model and the index load in the background, never at app build). What
    reads content waits for ``principal``: a stranger never makes the model or the store load.
    """

    async def answers(principal: Principal) -> AnswerService:
        built = resources.answers_if_built
        if built is not None:
            return built
        # the first question loads the index and verifies the model: off the event loop
        return await anyio.to_thread.run_sync(lambda: resources.answers)

    def library(principal: Principal) -> Library:
        return Library(resources.store)

    oidc = oidc_client(resources.settings)  # single sign-on (auth/oidc.py), if configured
    readiness = Readiness(
        counts=lambda: resources.store.counts(),
        embedder=lambda: resources.embedder,
        model=resources.model_name,
        generator=lambda: resources.generator,
        draft_model=resources.draft_name,
        draft=lambda: resources.draft_generator,
        index_embedder=lambda: resources.store.embedder_name(),
        multilingual=resources.multilingual_status,
    )
    return {
        "settings": Provide(lambda: resources.settings, sync_to_thread=False, use_cache=True),
        "access": Provide(lambda: resources.access, sync_to_thread=False),
        "audit": Provide(lambda: resources.audit, sync_to_thread=False),
        "answers": Provide(answers),
        "library": Provide(library, sync_to_thread=False),
        "readiness": Provide(lambda: readiness, sync_to_thread=False, use_cache=True),
        "feedback": Provide(lambda: FeedbackBook(resources.audit), sync_to_thread=False),
        "history": Provide(lambda: resources.history, sync_to_thread=False),
        "resources": Provide(lambda: resources, sync_to_thread=False),  # uploads only
        "oidc": Provide(lambda: oidc, sync_to_thread=False, use_cache=True),  # None: off
    }


def create_app(
    settings: Settings, resources: Resources | None = None, *, warm_up: bool = True
) -> Litestar:
    resources = resources or Resources(settings)
    tdir = templates_dir()
    # observability (assistant/observability): one metrics registry per app
    metrics = Metrics(resources) if settings.metrics_enabled else None
    # answers wait for the model in their own threads, so no page waits (server/threads.py)
    size_answer_pool(settings.queue_max_waiting)

    def on_startup() -> None:
        # audit log (assistant/audit): record the configuration in force, and sign
        # checkpoints on a timer so a quiet log is sealed too; fails closed
        record_settings(resources.audit, settings)
        resources.audit.start_ticker()
        if warm_up:
            threading.Thread(
                target=_warm_up, args=(resources,), daemon=True, name="warm-up"
            ).start()

    # inbox watcher (ingest/watch.py), only with the setting watch_inbox: it ingests on
    # its own thread; a bad file or batch is logged and never stops the server
    startup_hooks: list[Callable[[], None]] = [on_startup]
    shutdown_hooks: list[Callable[[], None]] = [resources.close]
    if settings.watch_inbox:
        watcher = service_from_settings(settings, lambda: resources.ingestor)
        startup_hooks.append(watcher.start)
        shutdown_hooks.insert(0, watcher.stop)
        if metrics is not None:  # ingest counters from the watcher's report hook
            watcher.options["on_report"] = metrics.observe_ingest

    app = Litestar(
        route_handlers=[
            PagesController,
            PreferencesController,  # the page language a user chose (server/i18n.py)
            # compliance review and admin pages (assistant/server/review_*.py, admin.py)
            ReviewController,
            ReviewApiController,
            AdminController,
            AuthController,
            OidcController,  # single sign-on through an OpenID provider (server/oidc_api.py)
            AskController,
            FeedbackController,  # thumbs up or down on an answer (server/feedback_api.py)
            HistoryController,  # a user's saved conversations (server/history_api.py)
            UploadController,  # admins add collections and files (server/upload_api.py)
            HealthController,
            OpenAIController,
            create_static_files_router(path="/static", directories=[tdir / "static"]),
            *([MetricsController] if metrics is not None else []),
        ],
        dependencies={
            **_services(resources),
            "metrics": Provide(lambda: metrics, sync_to_thread=False, use_cache=True),
            # sign-in (assistant/server/auth.py): every content handler needs a principal
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        template_config=TemplateConfig(
            directory=tdir,
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: install_i18n(engine.engine),  # t(...) in templates
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="On-premise assistant", version=__version__),
        on_startup=startup_hooks,
        on_shutdown=shutdown_hooks,
        # Litestar's default logging config rewires the root logger on every app; logging is
        # configured once per process instead (assistant/observability/logging.py)
        logging_config=None,
    )
    # request id, access log and HTTP metrics wrap the whole handler, routing included,
    # so 404s are counted and logged too (Litestar middleware runs after routing)
    app.asgi_handler = RequestObservability(
        app.asgi_handler, AppObserver(metrics, log_content=settings.log_content)
    )
    # CSP, nosniff, no framing, no referrer on every response, 404s and errors included
    app.asgi_handler = security_headers(app.asgi_handler)  # (assistant/server/security.py)
    return app
