"""The compliance review page and the admin page, through the real app (Litestar TestClient).

A compliance officer signs in, filters, opens a question and exports; an employee
(and an admin) is refused the audit page with a 403 page; markup in documents and
questions shows as text; every view is audited; pagination walks every record once;
and the indexes the page relies on (collections, text search) are kept honest.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from assistant.audit import EventKind
from assistant.audit.export import ExportFilter, read_export
from assistant.audit.monitor import VerifyMonitor
from assistant.domain import utcnow
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.audit_support import attacker, make_log
from tests.conftest import PASSWORD, SAMPLE, add_user, open_collection

XSS_DOC = (
    "Fire drill notice.\n\nThe fire drill is on Friday at ten. "
    "<script>alert('pwned-doc')</script> Meet at the car park. "
    '<img src=x onerror="alert(1)"> Bring your badge.\n'
)
XSS_QUESTION = "When is the fire drill <script>alert('pwned-q')</script>?"
ROLES = {"alice": "employee", "bob": "employee", "olga": "compliance", "adam": "admin"}


@dataclass
class Review:
    client: TestClient[Any]
    resources: Resources
    tokens: dict[str, str]

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def ask(self, user: str, question: str) -> dict[str, Any]:
        r = self.client.post("/api/ask", json={"question": question}, headers=self.bearer(user))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def sign_in(self, user: str) -> str:
        """Sign in with the form (session cookie) and return the page's CSRF token."""
        page = self.client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        r = self.client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.client.get("/").text)
        assert found
        return found.group(1)


def _client(settings: Settings, resources: Resources) -> Iterator[Review]:
    resources.ingestor.ingest([SAMPLE], "sample")
    open_collection(resources)
    tokens = {name: add_user(resources, name, role=role) for name, role in ROLES.items()}
    with TestClient(create_app(settings, resources, warm_up=False)) as client:
        yield Review(client, resources, tokens)


@pytest.fixture
def review(settings: Settings, resources: Resources) -> Iterator[Review]:
    yield from _client(settings, resources)


def seqs_on(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr class="event-row" data-seq="(\d+)"', page)]


def kinds_on(page: str) -> list[str]:
    return re.findall(r'<tr class="event-row" data-seq="\d+" data-kind="([a-z_]+)"', page)


def last_record(resources: Resources, kind: str) -> Any:
    return next(resources.audit.records(ExportFilter(kinds=(kind,)), limit=1, newest_first=True))


# -- the officer's path ---------------------------------------------------------------------
def test_an_officer_filters_opens_a_question_and_exports(review: Review) -> None:
    leave = review.ask("alice", "How many days of paid annual leave do employees get?")
    review.ask("alice", "Where is the fire assembly point?")
    review.ask("bob", "How many days of paid annual leave do employees get?")
    csrf = review.sign_in("olga")

    page = review.client.get("/review")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'id="verify-status"' in page.text and "Audit review" in page.text
    assert {"question", "login", "settings_at_startup"} <= set(kinds_on(page.text))

    # by user and event type
    page = review.client.get("/review", params={"user": "alice", "event": "question"})
    assert kinds_on(page.text) == ["question", "question"]
    assert "2 matching events" in page.text
    # by collection: the questions answered from it and its access rule, no logins
    page = review.client.get("/review", params={"collection": "sample"})
    assert kinds_on(page.text).count("question") == 3
    assert set(kinds_on(page.text)) <= {"question", "acl_change", "ingest", "reingest"}
    # by date range (UTC days)
    today = utcnow().date()
    page = review.client.get("/review", params={"from": str(today), "to": str(today)})
    assert len(seqs_on(page.text)) >= 3
    page = review.client.get("/review", params={"from": str(today + timedelta(days=1))})
    assert seqs_on(page.text) == [] and 'id="no-events"' in page.text
    # by free text in the question or answer, with the other filters
    page = review.client.get("/review", params={"q": "assembly", "event": "question"})
    assert len(seqs_on(page.text)) == 1
    page = review.client.get("/review", params={"q": "annual leave", "user": "bob"})
    [bobs] = seqs_on(page.text)

    # open alice's leave question: passages and answer exactly as given
    page = review.client.get("/review", params={"q": "annual leave", "user": "alice"})
    [seq] = seqs_on(page.text)
    detail = review.client.get(f"/review/{seq}")
    assert detail.status_code == 200 and bobs != seq
    text = html.unescape(detail.text)
    assert leave["answer"] in text
    assert "How many days of paid annual leave do employees get?" in text
    record = next(r for r in review.resources.audit.records() if r.seq == seq)
    for chunk in record.data["chunks"]:
        assert (
            chunk["chunk_id"] in text and chunk["text_sha256"] in text and chunk["doc_id"] in text
        )
    assert record.data["prompt_version"] in text
    assert "the text below matches" in text and "the text below differs" not in text
    for cite in leave["citations"]:
        assert cite["quote"].split("…")[0][:40] in text

    # export the filtered view: the same records, hashed as recorded, the export audited
    r = review.client.post(
        "/review/export",
        params={"format": "csv", "q": "annual leave"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = read_export(r.text, "csv")
    assert sorted(row.record.seq for row in rows) == sorted([seq, bobs])
    assert all(row.record.computed_hash() == row.record.hash for row in rows)
    assert all("annual leave" in row.personal["question"] for row in rows if row.personal)
    export = last_record(review.resources, EventKind.AUDIT_EXPORT)
    assert export.actor == "olga" and export.data["records"] == 2 and export.data["complete"]
    assert export.data["sha256"] == hashlib.sha256(r.content).hexdigest()
    assert export.data["filters"]["text_search"] is True
    assert "annual" not in str(export.data)  # the search words are personal: payload only
    assert review.resources.audit.payload(export) == {"text": "annual leave"}

    r = review.client.post(
        "/review/export", params={"format": "jsonl", "user": "bob"}, headers={"x-csrf-token": csrf}
    )
    assert r.status_code == 200
    assert {row.record.actor for row in read_export(r.text, "jsonl")} == {"bob"}
    # a session's export needs the CSRF header, like any write
    r = review.client.post("/review/export", params={"format": "csv"})
    assert r.status_code == 403 and r.json()["error"] == "csrf"


def test_an_employee_or_admin_is_refused_the_audit_page(review: Review) -> None:
    review.ask("alice", "Where is the fire assembly point?")
    for user in ("alice", "adam"):
        page = review.client.get("/review", headers=review.bearer(user) | {"accept": "text/html"})
        assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
        assert 'id="forbidden"' in page.text and "compliance" in page.text
        assert 'class="event-row"' not in page.text and 'id="verify-status"' not in page.text
        assert review.client.get("/review/3", headers=review.bearer(user)).status_code == 403
        r = review.client.post("/review/export", headers=review.bearer(user))
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert review.client.get("/review/status", headers=review.bearer(user)).status_code == 403
    denied = [
        r
        for r in review.resources.audit.records(ExportFilter(kinds=("audit_view",)))
        if r.data.get("denied")
    ]
    assert [r.actor for r in denied] == ["alice", "alice", "adam", "adam"]
    # the admin page is the admin's, not the employee's or the officer's
    assert review.client.get("/admin", headers=review.bearer("alice")).status_code == 403
    assert review.client.get("/admin", headers=review.bearer("olga")).status_code == 403
    # and nobody signed out sees anything
    review.client.cookies.clear()
    r = review.client.get("/review", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_markup_in_documents_and_questions_shows_as_text(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "notices"
    folder.mkdir()
    (folder / "drill.txt").write_text(XSS_DOC, encoding="utf-8")
    report = resources.ingestor.ingest([folder], "sample")
    assert not report.quarantined, report.quarantined
    for review in _client(settings, resources):
        review.ask("alice", XSS_QUESTION)
        olga = review.bearer("olga")
        page = review.client.get("/review", params={"event": "question"}, headers=olga)
        [seq] = seqs_on(page.text)
        detail = review.client.get(f"/review/{seq}", headers=olga)
        for body in (page.text, detail.text):
            assert "<script>alert" not in body and "onerror=" not in body.replace(
                "onerror=&#34;", ""
            )
            assert "&lt;script&gt;alert(&#39;pwned-q&#39;)&lt;/script&gt;" in body
        assert "&lt;script&gt;alert(&#39;pwned-doc&#39;)&lt;/script&gt;" in detail.text
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in detail.text
        # no inline script at all: the CSP allows only /static files
        scripts = re.findall(r"<script[^>]*>", detail.text)
        assert scripts and all('src="/static/' in s for s in scripts)


def test_every_view_is_audited_and_search_words_stay_out_of_the_chain(review: Review) -> None:
    olga = review.bearer("olga")
    review.client.get(
        "/review", params={"q": "Whitfield dosage", "event": "question"}, headers=olga
    )
    view = last_record(review.resources, EventKind.AUDIT_VIEW)
    assert view.actor == "olga" and view.data["page"] == "review"
    assert view.data["filters"]["events"] == ["question"] and view.data["filters"]["text_search"]
    assert "Whitfield" not in str(view.to_dict())
    assert review.resources.audit.payload(view) == {"text": "Whitfield dosage"}
    review.client.get("/review/1", headers=olga)
    view = last_record(review.resources, EventKind.AUDIT_VIEW)
    assert (view.data["page"], view.data["seq"], view.data["found"]) == ("record", 1, True)


def test_pagination_walks_every_matching_record_once(review: Review) -> None:
    audit = review.resources.audit
    for i in range(130):
        audit.record("login", f"user{i % 3}", {"via": "password"})
    olga = review.bearer("olga")
    expected = [r.seq for r in audit.records(ExportFilter(actor="user1"), newest_first=True)]
    assert len(expected) == 43
    review.resources.settings.review_page_size = 20
    seen: list[int] = []
    url: str | None = "/review?user=user1"
    pages = []
    while url:
        page = review.client.get(url, headers=olga).text
        pages.append(url)
        seen += seqs_on(page)
        found = re.search(r'href="([^"]+)" id="page-older"', page)
        url = html.unescape(found.group(1)) if found else None
    assert seen == expected and len(pages) == 3
    # and back: the newer link of the last page gives the page before it
    last = review.client.get(pages[-1], headers=olga).text
    newer = re.search(r'href="([^"]+)" id="page-newer"', last)
    assert newer
    assert (
        seqs_on(review.client.get(html.unescape(newer.group(1)), headers=olga).text)
        == (expected[20:40])
    )


def test_erased_texts_show_when_they_were_erased(review: Review) -> None:
    review.ask("alice", "Where is the fire assembly point?")
    seq = last_record(review.resources, EventKind.QUESTION).seq
    review.resources.audit.erase_subject("alice", actor="dpo")
    olga = review.bearer("olga")
    detail = review.client.get(f"/review/{seq}", headers=olga)
    assert detail.status_code == 200
    assert "Texts erased on" in detail.text and "erasure request" in detail.text
    assert "fire assembly point" not in detail.text
    page = review.client.get("/review", params={"event": "question"}, headers=olga)
    assert "question text erased on" in page.text
    missing = review.client.get("/review/999999", headers=olga)
    assert missing.status_code == 404 and 'id="not-found"' in missing.text


def test_bad_filters_get_a_clear_message(review: Review) -> None:
    olga = review.bearer("olga")
    for params, words in (
        ({"from": "yesterday"}, "not a date"),
        ({"event": "coffee"}, "unknown audit event kind"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "after the end"),
        ({"before": "x"}, "record number"),
    ):
        page = review.client.get("/review", params=params, headers=olga)
        assert page.status_code == 400 and words in html.unescape(page.text), params
        assert 'id="filter-error"' in page.text
    r = review.client.post("/review/export", params={"event": "coffee"}, headers=olga)
    assert r.status_code == 400 and r.json()["error"] == "invalid_filter"
    # punctuation is not FTS5 syntax: it is just not a word
    page = review.client.get("/review", params={"q": '"AND" OR* NEAR(('}, headers=olga)
    assert page.status_code == 200


def test_exports_are_rate_limited(settings: Settings, resources: Resources) -> None:
    settings.exports_per_hour = 2
    for review in _client(settings, resources):
        olga = review.bearer("olga")
        assert review.client.post("/review/export", headers=olga).status_code == 200
        assert review.client.post("/review/export", headers=olga).status_code == 200
        r = review.client.post("/review/export", headers=olga)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        exports = list(resources.audit.records(ExportFilter(kinds=("audit_export",))))
        assert len(exports) == 2


def test_verification_status_is_cached_and_shows_tampering(tmp_path: Path) -> None:
    log = make_log(tmp_path, every=3)
    for i in range(7):
        log.record("question", "alice", {"i": i}, {"question": f"q{i}", "answer": "a"})
    monitor = VerifyMonitor(log, max_age=timedelta(hours=1))
    assert monitor.status().state == "never"
    first = monitor.refresh()
    assert first.running or first.state == "ok"
    done = monitor.wait(30)
    assert done.state == "ok" and done.records == 7 and done.checked_at
    again = monitor.refresh()  # fresh: no second run
    assert not again.running and again.checked_at == done.checked_at
    with attacker(tmp_path / "audit" / "chain.sqlite") as db:
        db.execute(
            "UPDATE records SET body = CAST(replace(CAST(body AS TEXT), '\"i\":2', '\"i\":9') "
            "AS BLOB) WHERE seq = 3"
        )
    assert monitor.refresh().checked_at == done.checked_at  # still the cached result
    monitor.refresh(force=True)
    failed = monitor.wait(30)
    assert failed.state == "failed" and any("seq 3" in p for p in failed.problems)
    log.close()


def test_the_page_header_shows_the_last_verification(review: Review) -> None:
    olga = review.bearer("olga")
    r = review.client.post("/review/verify", headers=olga)
    assert r.status_code == 202
    from assistant.audit.monitor import monitor_for

    monitor_for(review.resources.audit, max_age=timedelta(minutes=10)).wait(30)
    status = review.client.get("/review/status", headers=olga).json()
    assert status["state"] == "ok" and status["records"] > 0
    page = review.client.get("/review", headers=olga).text
    assert "Log verified" in page and 'data-state="ok"' in page


# -- the admin page -----------------------------------------------------------------------
def test_admin_page_lists_users_collections_and_quarantine(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    folder = tmp_path / "legal"
    folder.mkdir()
    (folder / "contract.txt").write_text("The contract renews every April.")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)
    resources.ingestor.ingest([folder], "legal")  # a new collection: no rule yet
    for review in _client(settings, resources):
        r = review.client.get("/admin", headers=review.bearer("adam"))
        assert r.status_code == 200
        page = html.unescape(r.text)
        for name, role in ROLES.items():
            assert re.search(rf'data-user="{name}">\s*<td>{name}</td>\s*<td>{role}</td>', page)
        legal = re.search(r'data-collection="legal".*?</tr>', page, re.S)
        sample = re.search(r'data-collection="sample".*?</tr>', page, re.S)
        assert legal and "visible to nobody" in legal.group(0)
        assert sample and "groups staff at public or above" in sample.group(0)
        quarantine = re.search(r'id="quarantine-table".*?</table>', page, re.S)
        assert quarantine and "broken.pdf" in quarantine.group(0)
        assert "Nothing is quarantined" not in quarantine.group(0)


def test_the_chat_header_links_the_pages_a_role_may_open(review: Review) -> None:
    links = {
        user: re.findall(
            r'id="nav-(review|admin)"', review.client.get("/", headers=review.bearer(user)).text
        )
        for user in ("alice", "olga", "adam")
    }
    assert links == {"alice": [], "olga": ["review"], "adam": ["admin"]}


# -- the indexes behind the filters ----------------------------------------------------------
def test_collection_index_is_derived_verified_and_backfilled(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.record("ingest", "system", {"doc_id": "d" * 64, "collection": "hr"})
    q = log.record("question", "alice", {"chunks": [{"collection": "hr"}, {"collection": "it"}]})
    log.record("login", "alice", {})
    assert [r.seq for r in log.records(ExportFilter(collection="it"))] == [q.seq]
    assert [r.seq for r in log.records(ExportFilter(collection="hr"))] == [1, q.seq]
    assert log.verify().ok
    log.close()
    with attacker(tmp_path / "audit" / "chain.sqlite") as db:  # hide a record from the filter
        db.execute("DELETE FROM record_collections WHERE seq = 2 AND collection = 'it'")
    log = make_log(tmp_path)
    problems = log.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("index", 2)]
    log.close()
    with attacker(tmp_path / "audit" / "chain.sqlite") as db:  # a log from before the index
        db.execute("DELETE FROM record_collections")
        db.execute("DELETE FROM meta WHERE key = 'collection_index'")
    log = make_log(tmp_path)
    assert [r.seq for r in log.records(ExportFilter(collection="it"))] == [q.seq]
    assert log.verify().ok
    log.close()


def _files_hold(root: Path, needle: str) -> list[str]:
    return [p.name for p in root.glob("*.sqlite*") if needle.encode() in p.read_bytes()]


def test_both_text_search_plans_find_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.audit import filters as audit_filters

    log = make_log(tmp_path, every=1000)
    for i in range(60):
        text = f"note {i} " + ("about parking" if i % 3 == 0 else "about lunch")
        log.record("question", f"u{i % 4}", {}, {"question": text, "answer": "ok"})
    log.record("login", "u1", {})
    filters = [
        ExportFilter(text="parking"),
        ExportFilter(text="parking", actor="u1"),
        ExportFilter(text="about", kinds=("question",)),
        ExportFilter(text="nothing-like-this"),
    ]
    seek = [[r.seq for r in log.records(f, newest_first=True)] for f in filters]
    monkeypatch.setattr(audit_filters, "SEARCH_SEEK_MAX", 0)  # every search takes the probe plan
    probe = [[r.seq for r in log.records(f, newest_first=True)] for f in filters]
    assert seek == probe and len(seek[0]) == 20 and len(seek[1]) == 5 and seek[3] == []
    log.close()


def test_text_search_forgets_erased_words(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.record("question", "carol", {}, {"question": "Dose for patient Zebulonia?", "answer": "x"})
    log.record("question", "dave", {}, {"question": "Where is the canteen?", "answer": "upstairs"})
    assert [r.actor for r in log.records(ExportFilter(text="zebulon"))] == ["carol"]
    assert [r.actor for r in log.records(ExportFilter(text="UPSTAIRS"))] == ["dave"]
    assert _files_hold(tmp_path / "audit", "zebulonia")  # the index holds the folded word
    assert log.erase_subject("carol", actor="dpo") == 1
    assert list(log.records(ExportFilter(text="zebulon"))) == []
    assert _files_hold(tmp_path / "audit", "zebulonia") == []
    assert _files_hold(tmp_path / "audit", "Zebulonia") == []
    assert log.verify().ok
    log.close()
