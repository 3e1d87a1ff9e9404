"""The compliance review page in a real browser: Debian's chromium driven by Playwright.

A compliance officer signs in, follows the chat header's link to the audit page,
sees the log verified, filters, opens a question, and exports CSV; markup in a
document and a question shows as text (nothing runs); an employee is refused.
The app is served in-process on loopback with HashEmbedder and EchoGenerator;
without /usr/bin/chromium these tests are skipped (a browser is never downloaded).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.audit.export import ExportFilter, read_export
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import PASSWORD, SAMPLE, add_user, open_collection
from tests.live import live_server

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
LEAVE = "How many days of paid annual leave do full-time employees get?"
XSS_DOC = (
    "Zanzibar drill notice.\n\nThe zanzibar drill is on Friday. "
    "<script>window.__pwned = 1</script> Meet at the car park. "
    '<img src=x onerror="window.__pwned = 2"> Bring your badge.\n'
)
XSS_QUESTION = 'When is the zanzibar drill? <img src=x onerror="window.__pwned = 3">'


@dataclass
class Live:
    url: str
    resources: Resources
    answers: dict[str, str]


@pytest.fixture
def live(settings: Settings, resources: Resources, tmp_path: Path) -> Iterator[Live]:
    notices = tmp_path / "notices"
    notices.mkdir()
    (notices / "drill.txt").write_text(XSS_DOC, encoding="utf-8")
    for folder in (SAMPLE, notices):
        report = resources.ingestor.ingest([folder], "sample")
        assert not report.quarantined, report.quarantined
    open_collection(resources)
    tokens = {"alice": add_user(resources, "alice"), "bob": add_user(resources, "bob")}
    add_user(resources, "olga", role="compliance")
    with live_server(create_app(settings, resources, warm_up=False)) as url:
        answers = {}
        for user, question in (("alice", LEAVE), ("alice", XSS_QUESTION), ("bob", LEAVE)):
            r = httpx.post(
                url + "/api/ask",
                json={"question": question},
                headers={"Authorization": f"Bearer {tokens[user]}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            answers[f"{user}:{question}"] = r.json()["answer"]
        yield Live(url, resources, answers)


def new_page(browser: Any, url: str, user: str) -> tuple[Any, list[str]]:
    """A fresh context signed in as ``user``; the list collects script errors and dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_dialog(dialog: Any) -> None:  # an alert() from injected markup would land here
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def on_console(msg: Any) -> None:
        where = (msg.location or {}).get("url", "")
        # chromium logs every HTTP error status: the missing favicon and a deliberate 403 are fine
        expected = "Failed to load resource" in msg.text and (
            where.endswith("/favicon.ico") or "status of 403" in msg.text
        )
        if msg.type == "error" and not expected:
            problems.append(f"console: {msg.text} ({where})")

    page.on("console", on_console)
    page.set_default_timeout(WAIT_MS)
    page.goto(url + "/")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#signin")
    page.wait_for_url(url + "/")
    return page, problems


def test_an_officer_filters_opens_a_question_and_exports(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page, problems = new_page(browser, live.url, "olga")
    page.click("#nav-review")  # the chat header links the audit page for this role
    page.wait_for_url(live.url + "/review")
    expect(page.locator("#verify-text")).to_contain_text("Log verified", timeout=WAIT_MS)
    expect(page.locator(".event-row").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "review-list.png"), full_page=True)

    # filter: alice's questions about leave
    page.fill("#f-user", "alice")
    page.select_option("#f-event", "question")
    page.fill("#f-q", "annual leave")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"/review\?.*q=annual"))
    rows = page.locator(".event-row")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".col-actor")).to_have_text("alice")
    expect(rows.first.locator(".summary-text")).to_have_text(LEAVE)
    expect(page.locator("#result-count")).to_have_text("1 matching event")

    # open it: the question, the answer exactly as given, the passages with their ids
    rows.first.locator(".seq-link").click()
    page.wait_for_url(re.compile(r"/review/\d+"))
    expect(page.locator("#r-question")).to_have_text(LEAVE)
    answer = live.answers[f"alice:{LEAVE}"]
    assert page.locator("#r-answer").inner_text() == answer
    seq = int(page.locator("#record").get_attribute("data-seq") or 0)
    record = next(r for r in live.resources.audit.records() if r.seq == seq)
    passages = page.locator(".passage")
    expect(passages).to_have_count(len(record.data["chunks"]))
    for chunk in record.data["chunks"]:
        expect(page.locator(f".passage[data-n='{chunk['n']}']")).to_contain_text(chunk["chunk_id"])
    expect(page.locator("#r-prompt")).to_have_text(record.data["prompt_version"])
    page.screenshot(path=str(tmp_path / "review-record.png"), full_page=True)
    page.click("#back-to-list")
    page.wait_for_url(re.compile(r"/review\?.*q=annual"))
    expect(page.locator(".event-row")).to_have_count(1)

    # export the filtered view as CSV: a download of exactly those records, audited
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    exported = read_export(target.read_text(encoding="utf-8"), "csv")
    assert [row.record.seq for row in exported] == [seq]
    expect(page.locator("#export-status")).to_contain_text("Saved")
    last = next(
        live.resources.audit.records(ExportFilter(kinds=("audit_export",)), newest_first=True)
    )
    assert last.actor == "olga" and last.data["records"] == 1 and last.data["complete"]

    # markup in the question and in the passages is text on the page; nothing ran
    page.fill("#f-user", "")
    page.fill("#f-q", "zanzibar")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"q=zanzibar"))
    expect(page.locator(".event-row")).to_have_count(1)
    expect(page.locator(".summary-text")).to_contain_text('onerror="window.__pwned = 3"')
    page.locator(".seq-link").first.click()
    page.wait_for_url(re.compile(r"/review/\d+"))
    expect(page.locator(".passage-text").first).to_be_visible()
    texts = " ".join(page.locator(".passage-text").all_inner_texts())
    assert "<script>window.__pwned = 1</script>" in texts
    assert page.locator(".record img, .record script").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "review-xss.png"), full_page=True)
    assert not problems, problems


def test_an_employee_is_refused_the_audit_page(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    page, problems = new_page(browser, live.url, "alice")
    expect(page.locator("#nav-review")).to_have_count(0)  # no link for this role
    response = page.goto(live.url + "/review")
    assert response is not None and response.status == 403
    expect(page.locator("#forbidden")).to_contain_text("Not allowed")
    expect(page.locator(".event-row")).to_have_count(0)
    text = html.unescape(page.content())
    assert "compliance role" in text
    assert not problems, problems


def test_an_admin_creates_a_collection_and_uploads_files(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """In the admin page: a new collection, then three files chosen for it, each one's
    outcome shown as it is known; the good one is searchable, the bad ones say why."""
    from playwright.sync_api import expect

    add_user(live.resources, "adam", role="admin")
    page, problems = new_page(browser, live.url, "adam")
    page.click("#nav-admin")
    page.wait_for_url(live.url + "/admin")
    page.fill("#nc-name", "board-minutes")
    page.fill("#nc-groups", "board, legal")
    page.select_option("#nc-label", "secret")
    page.click("#nc-create")
    page.wait_for_load_state("load")
    expect(page.locator("#collections-table tr[data-collection='board-minutes']")).to_contain_text(
        "board, legal"
    )

    files = tmp_path / "upload"
    files.mkdir()
    (files / "minutes.md").write_text("# Minutes\n\nThe board approved the quokka budget.\n")
    (files / "empty.txt").write_text("")
    (files / "blob.bin").write_bytes(bytes(range(256)) * 32)
    page.select_option("#up-collection", "board-minutes")
    page.set_input_files(
        "#up-input", [str(files / n) for n in ("minutes.md", "empty.txt", "blob.bin")]
    )
    item = page.locator("#upload-list .upload-item")
    expect(page.locator(".upload-item[data-file='minutes.md']")).to_have_attribute(
        "data-state", "added"
    )
    expect(page.locator(".upload-item[data-file='empty.txt']")).to_have_attribute(
        "data-state", "refused"
    )
    expect(page.locator(".upload-item[data-file='blob.bin']")).to_have_attribute(
        "data-state", "quarantined"
    )
    expect(item.filter(has_text="empty.txt").locator(".upload-reason")).to_have_text(
        "the file is empty"
    )
    page.screenshot(path=str(tmp_path / "admin-upload.png"), full_page=True)
    hits = live.resources.retriever.retrieve("What budget did the board approve?")
    assert hits and hits[0].document.collection == "board-minutes"
    assert not problems, problems
