"""The chat page in a real browser: Debian's chromium driven by Playwright.

The real app is served in-process (uvicorn in a thread, loopback only) with the
deterministic HashEmbedder and EchoGenerator. The browser is never downloaded:
without /usr/bin/chromium these tests are skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assistant.answering.generator import EchoGenerator, Generator
from assistant.answering.prompt import REFUSAL_AR, Message
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import PASSWORD, add_user, open_collection

pytestmark = pytest.mark.browser

QUESTION = "How many days of paid annual leave do full-time employees get?"
WAIT_MS = 30_000


# -- the browser ------------------------------------------------------------------------


@dataclass
class PageLog:
    """Everything the page did that a test may check afterwards."""

    requests: list[str] = field(default_factory=list)
    ask_bodies: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign_hosts(self) -> set[str]:
        return {urlsplit(u).hostname or u for u in self.requests} - {"127.0.0.1"}

    def problems(self) -> list[str]:
        """Script errors and console errors, CSP violations among them. Chromium also logs
        every HTTP error status as a console error: a missing favicon and the API's
        deliberate error answers are fine."""
        expected = re.compile(
            r"Failed to load resource: .* status of \d+.*\((.*/favicon\.ico|.*/api/ask/stream)\)$"
        )
        return self.page_errors + [m for m in self.console_errors if not expected.match(m)]


def open_page(
    browser: Any, url: str, *, width: int = 1280, height: int = 800, locale: str | None = None
) -> tuple[Any, PageLog]:
    """A signed-in chat page; ``locale`` is the browser's language (its Accept-Language)."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        service_workers="block",
        **({"locale": locale} if locale else {}),
    )
    page = context.new_page()
    log = PageLog()

    def on_request(request: Any) -> None:
        log.requests.append(request.url)
        if request.url.endswith("/api/ask/stream") and request.method == "POST":
            log.ask_bodies.append(json.loads(request.post_data or "{}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            where = (msg.location or {}).get("url", "")
            log.console_errors.append(f"{msg.text} ({where})")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    page.set_default_timeout(WAIT_MS)
    sign_in(page, url)
    return page, log


def sign_in(page: Any, url: str, user: str = "alice", password: str = PASSWORD) -> None:
    """Open the chat: the app sends the browser to the sign-in form first."""
    page.goto(url + "/")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_url(url + "/")


# -- the app, served in-process -----------------------------------------------------------
@dataclass
class Live:
    url: str
    resources: Resources


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(settings: Settings, sample_copy: Path) -> Iterator[Callable[..., Live]]:
    """Start the real app on a free loopback port; extra files are added to the sample first."""
    import uvicorn

    running: list[tuple[Any, threading.Thread]] = []

    def start(
        extra_files: dict[str, str] | None = None,
        generator: Generator | None = None,
        draft: Generator | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> Live:
        for name, text in (extra_files or {}).items():
            (sample_copy / name).write_text(text, encoding="utf-8")
        s = settings.model_copy(update=overrides or {})
        resources = Resources(
            s,
            embedder=HashEmbedder(),
            generator=generator or EchoGenerator(),
            draft_generator=draft,
        )
        report = resources.ingestor.ingest([sample_copy], "sample")
        assert not report.quarantined, report.quarantined
        open_collection(resources)
        add_user(resources)
        app = create_app(s, resources, warm_up=False)
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start within 30 s")
            time.sleep(0.05)
        return Live(f"http://127.0.0.1:{port}", resources)

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=15)


def ask(page: Any, question: str) -> Any:
    """Type a question, press Enter, and return the new turn."""
    before = page.locator(".turn").count()
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    turn = page.locator(".turn").nth(before)
    turn.wait_for(state="attached")
    return turn


def wait_done(page: Any, turn: Any, state: str = "done") -> None:
    from playwright.sync_api import expect

    expect(turn).to_have_attribute("data-state", state, timeout=WAIT_MS)


# -- tests -----------------------------------------------------------------------------------
def test_ask_shows_streamed_answer_and_source_cards(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = serve()
    n_docs = live.resources.store.counts()["documents"]
    assert n_docs >= 5
    page, log = open_page(browser, live.url)

    # header: product, model and the number of indexed documents
    expect(page.locator(".brand-name")).to_have_text("Assistant")
    expect(page.locator("#model-name")).to_have_text(live.resources.settings.model)
    expect(page.locator("#doc-count")).to_contain_text(f"{n_docs} documents")
    expect(page.locator("#conversation")).to_have_attribute("aria-live", "polite")
    expect(page.locator("label[for=question]")).to_have_count(1)

    # Shift+Enter is a new line, not a question
    page.locator("#question").fill("line one")
    page.locator("#question").press("Shift+Enter")
    expect(page.locator("#question")).to_have_value("line one\n")
    expect(page.locator(".turn")).to_have_count(0)

    turn = ask(page, QUESTION)
    expect(turn.locator(".question")).to_contain_text(QUESTION)
    expect(page.locator("#question")).to_have_value("")  # Enter sent it, no newline left behind
    expect(turn.locator(".card").first).to_be_visible()
    wait_done(page, turn)
    # checked against its sources: no longer a draft
    expect(turn.locator(".answer-label")).to_have_text("Answer")
    expect(turn.locator(".answer")).not_to_have_class(re.compile(r"\bis-draft\b"))

    # the sources are cards, one of them from the HR handbook, quotes collapsed
    expect(turn.locator(".card .meta-file", has_text="hr-handbook.pdf").first).to_be_visible()
    first = turn.locator(".card[data-n='1']")
    expect(first.locator(".card-n")).to_have_text("[1]")
    expect(first.locator(".meta-score")).to_contain_text(re.compile(r"score \d\.\d\d"))
    expect(first.locator("blockquote")).to_be_hidden()
    expect(first.locator(".badge")).to_have_text("Cited")
    expect(first).to_have_class(re.compile(r"\bis-cited\b"))
    uncited = turn.locator(".card.is-uncited")
    assert uncited.count() == turn.locator(".card").count() - 1

    # the answer carries a [1] link; following it highlights and opens that card's quote
    link = turn.locator(".answer a.cite", has_text="[1]").first
    expect(link).to_be_visible()
    link.click()
    expect(first).to_have_class(re.compile(r"\bis-active\b"))
    expect(first.locator("details")).to_have_attribute("open", "")
    expect(first.locator("blockquote")).to_be_visible()
    expect(first).to_be_focused()
    quote = first.locator("blockquote").inner_text()
    # the sentence that backs the answer (answering/grounding.py) is marked in the quote
    evidence = first.locator("blockquote mark.evidence")
    expect(evidence).to_have_count(1)
    answer = turn.locator(".answer-text").inner_text()
    assert evidence.inner_text() in quote and evidence.inner_text().split()[0] in answer
    assert "[1]" in answer
    assert answer.split()[:4] == quote.split()[:4]  # the echo answer quotes source [1]

    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#status")).to_contain_text("Answered")
    page.screenshot(path=str(tmp_path / "chat-desktop.png"), full_page=True)

    # a follow-up carries the conversation id the server returned
    second = ask(page, "How much hotel cost per night is reimbursed in capital cities?")
    wait_done(page, second)
    assert log.ask_bodies[0]["conversation_id"] is None
    assert isinstance(log.ask_bodies[1]["conversation_id"], str)
    assert log.ask_bodies[1]["conversation_id"]
    expect(second.locator(".card[data-n='1']")).to_have_attribute("id", "src-2-1")

    # "New chat" clears the page and forgets the conversation
    page.locator("#new-chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#empty-state")).to_be_visible()
    wait_done(page, ask(page, QUESTION))
    assert log.ask_bodies[2]["conversation_id"] is None

    # a phone: nothing wider than the screen
    phone, phone_log = open_page(browser, live.url, width=360, height=780)
    phone_turn = ask(phone, QUESTION)
    wait_done(phone, phone_turn)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert phone.locator("#main").evaluate("el => el.scrollWidth <= el.clientWidth")
    phone.screenshot(path=str(tmp_path / "chat-mobile.png"))

    assert (tmp_path / "chat-desktop.png").stat().st_size > 0
    for pl in (log, phone_log):
        assert pl.requests, "no requests recorded"
        assert not pl.foreign_hosts(), f"the page contacted other hosts: {pl.foreign_hosts()}"
        assert not pl.problems(), pl.problems()


def test_feedback_on_an_answer_is_recorded(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    """Thumbs down and a comment under an answer: recorded in the audit log, the comment
    as erasable personal data, and the page says so."""
    from playwright.sync_api import expect

    from assistant.audit.feedback import FeedbackBook

    live = serve()
    page, log = open_page(browser, live.url)
    turn = ask(page, QUESTION)
    wait_done(page, turn)
    box = turn.locator(".feedback")
    expect(box).to_be_visible()
    expect(box.locator(".feedback-more")).to_be_hidden()
    box.locator(".feedback-down").click()
    expect(box).to_have_attribute("data-sent", "down")
    expect(box.locator(".feedback-down")).to_have_attribute("aria-pressed", "true")
    expect(box.locator(".feedback-note")).to_have_text("Thank you: your feedback was recorded.")
    box.locator(".feedback-comment").fill("The cap is per night, not per trip.")
    box.locator(".feedback-send").click()
    expect(box.locator(".feedback-more")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "chat-feedback.png"), full_page=True)

    entries = FeedbackBook(live.resources.audit).entries()
    assert [e.rating for e in entries] == ["down", "down"]  # newest first
    assert entries[0].comment == "The cap is per night, not per trip."
    assert entries[1].comment is None
    assert entries[0].question is not None and entries[0].question.personal is not None
    assert entries[0].question.personal["question"] == QUESTION
    assert not log.problems(), log.problems()


def test_saved_conversations_are_reopened_renamed_and_deleted(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = serve()
    page, log = open_page(browser, live.url)
    wait_done(page, ask(page, QUESTION))
    page.locator("#new-chat").click()
    expect(page.locator(".turn")).to_have_count(0)

    page.locator("#history-toggle").click()
    item = page.locator("#history-list .history-item").first
    expect(item.locator(".history-open")).to_have_text(QUESTION)
    cid = item.get_attribute("data-id")
    item.locator(".history-open").click()
    turn = page.locator(".turn").first
    expect(turn.locator(".question")).to_contain_text(QUESTION)
    expect(turn.locator(".answer-text")).to_contain_text("[1]")
    expect(turn.locator(".card").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "chat-history.png"), full_page=True)

    follow = ask(page, "And how much hotel cost per night is reimbursed then?")
    wait_done(page, follow)
    assert log.ask_bodies[-1]["conversation_id"] == cid  # the reopened conversation goes on

    page.once("dialog", lambda dialog: dialog.accept("Leave questions"))
    item.locator(".history-rename").click()
    expect(item.locator(".history-open")).to_have_text("Leave questions")
    page.once("dialog", lambda dialog: dialog.accept())
    item.locator(".history-delete").click()
    expect(page.locator("#history-list .history-item")).to_have_count(0)
    assert live.resources.history.list("alice") == []
    assert not log.problems(), log.problems()


def test_an_answer_its_sources_do_not_back_is_withheld(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from tests.test_grounding_service import FixedGenerator

    live = serve(generator=FixedGenerator("Hotels in capital cities are paid up to 480 EUR [1]."))
    page, log = open_page(browser, live.url)
    turn = ask(page, "How much hotel cost per night is reimbursed in capital cities?")
    wait_done(page, turn)
    expect(turn.locator(".answer-label")).to_have_text("Withheld: not backed by the documents")
    expect(turn.locator(".answer-text")).not_to_contain_text("480")
    expect(turn.locator(".sources-note")).to_contain_text("do not hold")
    page.screenshot(path=str(tmp_path / "chat-withheld.png"), full_page=True)
    assert not log.problems(), log.problems()


def test_an_answer_that_gives_no_figure_says_so(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    """A cited, backed answer that names no figure to "how much" is withheld, and the page
    says why: not that its facts are unbacked, but that it gave no figure."""
    from playwright.sync_api import expect

    from tests.test_grounding_service import FixedGenerator

    live = serve(generator=FixedGenerator("Hotels in capital cities have a cap per night [1]."))
    page, log = open_page(browser, live.url)
    turn = ask(page, "How much hotel cost per night is reimbursed in capital cities?")
    wait_done(page, turn)
    expect(turn.locator(".answer-label")).to_have_text("Withheld: it gives no figure")
    expect(turn.locator(".sources-note")).to_contain_text("asks for a figure")
    page.screenshot(path=str(tmp_path / "chat-no-figure.png"), full_page=True)
    assert not log.problems(), log.problems()


def test_an_answer_whose_figure_is_about_something_else_says_so(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    """The hotel cap given as the housing allowance: withheld, and the page says why."""
    from playwright.sync_api import expect

    from tests.test_grounding_service import (
        HOUSING,
        OFF_TOPIC_REPLY,
        TRAVEL_COSTS,
        FixedGenerator,
    )

    reply = OFF_TOPIC_REPLY.replace(" [1]", "")  # the check finds the passage it came from
    live = serve({"travel-costs.md": TRAVEL_COSTS}, generator=FixedGenerator(reply))
    page, log = open_page(browser, live.url)
    turn = ask(page, HOUSING)
    wait_done(page, turn)
    expect(turn.locator(".answer-label")).to_have_text(
        "Withheld: its figure is about something else"
    )
    expect(turn.locator(".sources-note")).to_contain_text("for something else")
    page.screenshot(path=str(tmp_path / "chat-off-topic.png"), full_page=True)
    assert not log.problems(), log.problems()
    page, log = open_page(browser, live.url, locale="ar-SA")  # and in Arabic
    turn = ask(page, HOUSING)
    wait_done(page, turn)
    expect(turn.locator(".answer-label")).to_have_text("حُجبت: رقمها يخص أمرًا آخر")
    expect(turn.locator(".sources-note")).to_contain_text("لأمر آخر")
    page.screenshot(path=str(tmp_path / "chat-off-topic-ar.png"), full_page=True)
    assert not log.problems(), log.problems()


def test_an_answer_is_cut_after_its_backed_lead(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    """The streamed tail that states an unbacked figure goes; the cited lead stays, and the
    source note says the end was cut."""
    from playwright.sync_api import expect

    from tests.test_grounding_service import RAMBLE, FixedGenerator

    live = serve(generator=FixedGenerator(RAMBLE))
    page, log = open_page(browser, live.url)
    turn = ask(page, "What is the hotel cap per night in capital cities?")
    wait_done(page, turn)
    expect(turn.locator(".answer-text")).to_contain_text("220 EUR per night")
    expect(turn.locator(".answer-text")).not_to_contain_text("480")
    expect(turn.locator(".sources-note")).to_contain_text("it was cut")
    page.screenshot(path=str(tmp_path / "chat-trimmed.png"), full_page=True)
    assert not log.problems(), log.problems()


def test_a_replaced_draft_is_cleared_and_the_answering_model_named(
    browser: Any, serve: Callable[..., Live]
) -> None:
    from playwright.sync_api import expect

    from tests.test_router import BACKED, QUESTION, Scripted

    class Gated(Scripted):
        """Waits for the test before answering: the page's state in between can be seen."""

        go = threading.Event()

        def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
            self.go.wait(WAIT_MS / 1000)
            yield from super().stream(messages, **kw)

    large = Gated("large", BACKED)
    live = serve(generator=large, draft=Scripted("small", "Hotels cost up to 480 EUR [1]."))
    page, log = open_page(browser, live.url)
    turn = ask(page, QUESTION)
    text = turn.locator(".answer-text")
    expect(text).to_have_text("Checking with a larger model (large)…")  # the draft is gone
    large.go.set()
    wait_done(page, turn)
    expect(text).to_contain_text("220 EUR")
    expect(text).not_to_contain_text("480")
    expect(turn.locator(".answer-model")).to_have_text("Model: large (after small)")
    assert not log.problems(), log.problems()


def test_a_withheld_answer_is_cleared_while_the_model_answers_again(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from tests.test_router import BACKED, QUESTION, Scripted

    class Twice(Scripted):
        """Invents a figure, then waits for the test before its corrected answer."""

        go = threading.Event()

        def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
            if self.calls:
                self.go.wait(WAIT_MS / 1000)
            yield from super().stream(messages, **kw)

    model = Twice("large", "Hotels cost up to 480 EUR [1].", then=BACKED)
    live = serve(generator=model, overrides={"regenerate_withheld": True})
    page, log = open_page(browser, live.url)
    turn = ask(page, QUESTION)
    text = turn.locator(".answer-text")
    expect(text).to_have_text("Not found in the sources as written: answering again…")
    page.screenshot(path=str(tmp_path / "chat-answering-again.png"), full_page=True)
    model.go.set()
    wait_done(page, turn)
    expect(text).to_contain_text("220 EUR")
    expect(text).not_to_contain_text("480")
    expect(turn.locator(".answer-model")).to_have_text("Model: large")
    assert model.calls == 2
    assert not log.problems(), log.problems()


XSS_DOC = """# Zanzibar gadget audit

The zanzibar gadget audit found the string `<script>window.__pwned=1</script>` in a gadget label.

The zanzibar gadget audit also found `<img src=x onerror="window.__pwned=1">` in a gadget manual.
"""
XSS_QUESTION = "What did the zanzibar gadget audit find in a gadget label?"


def test_model_and_document_text_is_never_run_as_html(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = serve(extra_files={"gadget-audit.md": XSS_DOC})
    page, log = open_page(browser, live.url)

    turn = ask(page, XSS_QUESTION)
    wait_done(page, turn)
    card = turn.locator(".card", has=page.locator(".meta-file", has_text="gadget-audit.md")).first
    expect(card).to_be_visible()
    card.locator("summary").click()
    quote = card.locator("blockquote")
    expect(quote).to_be_visible()
    expect(quote).to_contain_text("<script>window.__pwned=1</script>")
    expect(quote).to_contain_text('<img src=x onerror="window.__pwned=1">')
    # the echo answer quotes the payload too: shown as text, not run
    expect(turn.locator(".answer-text")).to_contain_text("<script>window.__pwned=1</script>")

    page.wait_for_timeout(300)  # give an image error handler time to fire, were there one
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#conversation script, #conversation img").count() == 0
    page.screenshot(path=str(tmp_path / "chat-xss.png"), full_page=True)
    assert not log.foreign_hosts()
    assert not log.problems(), log.problems()


class SlowEchoGenerator(EchoGenerator):
    """The echo answer, a word every 0.4 s: long enough to press Stop."""

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        for piece in super().stream(messages, max_tokens=max_tokens, cancel=cancel):
            time.sleep(0.4)
            yield piece


def _sse(*events: tuple[str, object]) -> str:
    return "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


def test_stop_busy_refusal_and_stream_errors(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = serve(generator=SlowEchoGenerator())
    page, log = open_page(browser, live.url)

    # while an answer streams, Send is disabled; Stop aborts it
    turn = ask(page, QUESTION)
    expect(turn).to_have_attribute("data-state", "answering")
    expect(turn.locator(".answer-text")).not_to_have_text("")
    # the text streams as a draft: it is checked against its sources only when it ends
    expect(turn.locator(".answer")).to_have_class(re.compile(r"\bis-draft\b"))
    expect(turn.locator(".answer-label")).to_have_text("Draft · being checked against the sources")
    page.screenshot(path=str(tmp_path / "chat-draft.png"))
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#status")).to_have_text("Answering…")

    # a second user waits in the model's queue, and gets the model once the first stops
    other, other_log = open_page(browser, live.url)
    queued = ask(other, QUESTION)
    expect(queued).to_have_attribute("data-state", "queued")
    expect(queued.locator(".answer-text")).to_contain_text("your question is next")
    expect(other.locator("#status")).to_contain_text("Waiting for the model")

    page.locator("#stop").click()
    wait_done(page, turn, "stopped")
    expect(queued).to_have_attribute("data-state", "answering")
    expect(queued.locator(".answer-text")).not_to_contain_text("Waiting")
    other.locator("#stop").click()
    wait_done(other, queued, "stopped")
    assert not other_log.problems(), other_log.problems()
    expect(page.locator("#status")).to_have_text("Stopped.")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()

    # a busy server: 503 with Retry-After
    stream = "**/api/ask/stream"
    page.route(
        stream,
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "7"},
            content_type="application/json",
            body=json.dumps({"error": "busy", "detail": "the model is answering someone else"}),
        ),
    )
    busy = ask(page, "Is anyone there?")
    wait_done(page, busy, "error")
    expect(page.locator("#status")).to_contain_text(re.compile(r"Busy, retry in [67] s"))
    expect(busy.locator(".answer")).to_contain_text("the model is answering someone else")
    expect(page.locator("#question")).to_have_value("Is anyone there?")  # kept to send again
    page.unroute(stream)

    # a refusal is a notice, every source dimmed; multi-number markers become links
    source = {
        "n": 1,
        "chunk_id": "c1",
        "document": "Travel FAQ",
        "path": "/srv/docs/travel-faq.txt",
        "page": None,
        "section": "Visas",
        "quote": "Visas are handled by the travel desk.",
        "score": 0.31,
    }
    refusal = "I can't find this in the documents you have access to."
    page.route(
        stream,
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=_sse(
                ("sources", [source]),
                ("token", {"text": refusal}),
                (
                    "done",
                    {"answer": refusal, "refused": True, "citations": [], "conversation_id": "x"},
                ),
            ),
        ),
    )
    page.locator("#question").fill("")
    refused = ask(page, "Who is the CEO's dentist?")
    wait_done(page, refused)
    expect(refused.locator(".answer")).to_have_class(re.compile(r"\bis-refused\b"))
    expect(refused.locator(".answer-text")).to_have_text(refusal)
    expect(refused.locator(".card.is-uncited")).to_have_count(1)
    expect(refused.locator(".card .meta-file")).to_have_text("travel-faq.txt")
    expect(refused.locator(".card .meta-section")).to_have_text("Visas")
    expect(refused.locator(".card .meta-page")).to_have_count(0)  # page is null
    page.unroute(stream)

    # an error event mid-stream: what the page says for its code, and the server's detail
    page.route(
        stream,
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=_sse(
                ("sources", [source]),
                ("token", {"text": "Visas are"}),
                ("error", {"error": "model_error", "detail": "the model stopped unexpectedly"}),
            ),
        ),
    )
    failed = ask(page, "How do visas work?")
    wait_done(page, failed, "error")
    expect(page.locator("#status")).to_have_text("The model could not answer.")
    expect(failed.locator(".answer-detail")).to_have_text("Details: the model stopped unexpectedly")
    page.unroute(stream)

    assert [b["conversation_id"] for b in log.ask_bodies[:2]] == [None, None]
    assert log.ask_bodies[-1]["conversation_id"] == "x"
    assert not log.foreign_hosts()
    assert not log.problems(), log.problems()


ARABIC_DOC = (
    "# الإجازة السنوية\n\n"
    "يحصل الموظف بدوام كامل على ٣٠ يوماً من الإجازة السنوية المدفوعة. "
    "تُقدَّم طلبات الإجازة عبر بوابة الموارد البشرية قبل أسبوعين على الأقل.\n"
)
ASK_AR = "كم يوماً من الإجازة السنوية يحصل الموظف بدوام كامل؟"
UNANSWERABLE_AR = "كم يوماً من إجازة الأبوة يحصل المتعاقدون؟"
ARABIC_SHOT = Path("/work/exp/arabic-chat.png")


class ArabicDesk(EchoGenerator):
    """The echo answer, except that it refuses, in Arabic, a question about paternity leave
    (الأبوة): passages are found for it, and none of them answers it. After its first piece
    it waits for ``go``, so the test can see the draft."""

    def __init__(self) -> None:
        self.go = threading.Event()  # set by the test: the rest of the answer may come

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        if "الأبوة" in messages[-1]["content"].rpartition("Question:")[2]:
            yield from (word + " " for word in REFUSAL_AR.split(" "))
            return
        for i, piece in enumerate(super().stream(messages, max_tokens=max_tokens, cancel=cancel)):
            if i == 1:  # the page shows the streamed text as a draft meanwhile
                self.go.wait(WAIT_MS / 1000)
            yield piece


def _direction(locator: Any) -> str:
    return str(locator.evaluate("el => getComputedStyle(el).direction"))


def test_an_arabic_conversation_runs_right_to_left(
    browser: Any, serve: Callable[..., Live], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    desk = ArabicDesk()
    live = serve(extra_files={"leave-ar.md": ARABIC_DOC}, generator=desk)
    page, log = open_page(browser, live.url, locale="ar-SA")  # the browser asks for Arabic

    # an Arabic page: right to left, every string from the Arabic catalogue
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "ar")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.locator(".brand-name")).to_have_text("المساعد")
    expect(page.locator("#send")).to_have_text("إرسال")
    expect(page.locator("#question")).to_have_attribute("dir", "auto")
    expect(page.locator("#question")).to_have_attribute("placeholder", "اسأل عن مستنداتك…")

    # an Arabic question: an Arabic answer, right to left, from the Arabic document
    turn = ask(page, ASK_AR)
    expect(turn.locator(".answer-label")).to_have_text("مسودة · يجري التحقق منها في المصادر")
    expect(turn.locator(".answer")).to_have_class(re.compile(r"\bis-draft\b"))
    page.screenshot(path=str(tmp_path / "chat-arabic-draft.png"))
    desk.go.set()
    wait_done(page, turn)
    question, text = turn.locator(".question"), turn.locator(".answer-text")
    expect(question).to_have_attribute("dir", "auto")
    expect(text).to_have_attribute("dir", "auto")
    expect(text).to_have_attribute("lang", "ar")
    expect(text).to_contain_text("٣٠ يوماً")
    assert _direction(text) == "rtl" and _direction(question) == "rtl"
    expect(turn.locator(".answer-label")).to_have_text("الإجابة")
    card = turn.locator(".card[data-n='1']")
    expect(card.locator(".meta-file")).to_have_text("leave-ar.md")
    expect(card).to_have_attribute("dir", "auto")
    expect(card.locator(".badge")).to_have_text("مستشهد به")
    assert _direction(card) == "rtl" and _direction(card.locator("blockquote")) == "rtl"
    turn.locator(".answer a.cite").first.click()  # opens the quote, evidence marked
    expect(card.locator("blockquote mark.evidence")).to_contain_text("٣٠ يوماً")
    expect(page.locator("#status")).to_contain_text("أُجيب في")
    # the asker's bubble sits at the end of a right-to-left line: on the left
    q_box, conv_box = question.bounding_box(), page.locator("#conversation").bounding_box()
    assert q_box["x"] - conv_box["x"] < 40, (q_box, conv_box)

    # an Arabic question no passage answers: the model's refusal, in Arabic
    refused = ask(page, UNANSWERABLE_AR)
    wait_done(page, refused)
    expect(refused.locator(".answer")).to_have_class(re.compile(r"\bis-refused\b"))
    expect(refused.locator(".answer-text")).to_have_text(REFUSAL_AR)
    expect(refused.locator(".answer-label")).to_have_text("غير موجود في المستندات")
    expect(refused.locator(".sources-note")).to_have_text("لا يجيب أي من هذه المقاطع عن السؤال.")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot = tmp_path / "chat-arabic.png"
    page.screenshot(path=str(shot), full_page=True)
    ARABIC_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARABIC_SHOT)

    # English inside the Arabic page runs left to right
    english = ask(page, QUESTION)
    wait_done(page, english)
    expect(english.locator(".answer-text")).to_have_attribute("lang", "en")
    assert _direction(english.locator(".answer-text")) == "ltr"
    assert _direction(english.locator(".question")) == "ltr"
    # an English document's card too, whatever the language of its labels
    assert _direction(english.locator(".card[data-n='1']")) == "ltr"
    english.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "chat-arabic-mixed.png"))

    # the user's own choice beats the browser's language, and is kept
    page.locator("#language-switch").click()
    expect(html).to_have_attribute("dir", "ltr")
    expect(page.locator("#send")).to_have_text("Send")
    page.reload()
    expect(html).to_have_attribute("lang", "en")
    assert live.resources.access.store.language("alice") == "en"
    page.locator("#language-switch").click()
    expect(html).to_have_attribute("dir", "rtl")

    # a phone: nothing wider than the screen, right to left too
    phone, phone_log = open_page(browser, live.url, width=360, height=780, locale="ar")
    wait_done(phone, ask(phone, ASK_AR))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert phone.locator("#main").evaluate("el => el.scrollWidth <= el.clientWidth")
    phone.screenshot(path=str(tmp_path / "chat-arabic-mobile.png"))

    for pl in (log, phone_log):
        assert not pl.foreign_hosts()
        assert not pl.problems(), pl.problems()
