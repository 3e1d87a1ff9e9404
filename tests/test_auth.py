"""Sign-in, sessions, CSRF, rate limits, tokens, proxy sign-on and deny-by-default."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from litestar.testing import TestClient

from assistant.auth.sessions import SessionManager
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.server.auth import SESSION_COOKIE
from tests.conftest import PASSWORD, SAMPLE, add_user, open_collection
from tests.live import live_server

QUESTION = {"question": "Where is the fire assembly point?"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app_client(resources: Resources) -> Iterator[TestClient]:  # type: ignore[type-arg]
    resources.ingestor.ingest([SAMPLE], "sample")
    open_collection(resources)
    add_user(resources)
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        yield client


def _login(client: TestClient, user: str = "alice", password: str = PASSWORD) -> object:  # type: ignore[type-arg]
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    return client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf.group(1), "next": "/"},
        follow_redirects=False,
    )


def _page_csrf(client: TestClient) -> str:  # type: ignore[type-arg]
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert found
    return found.group(1)


def test_nothing_is_served_without_sign_in(app_client: TestClient, resources: Resources) -> None:  # type: ignore[type-arg]
    assert app_client.post("/api/ask", json=QUESTION).status_code == 401
    assert app_client.post("/v1/chat/completions", json={}).status_code == 401
    assert resources.answers_if_built is None  # a stranger never makes the model load
    r = app_client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert app_client.get("/healthz").status_code == 200


def test_login_sets_a_strict_http_only_cookie_and_audits(
    app_client: TestClient,
    resources: Resources,  # type: ignore[type-arg]
) -> None:
    r = _login(app_client, password="wrong password!")
    assert r.status_code == 401  # type: ignore[attr-defined]
    r = _login(app_client)
    assert r.status_code == 303  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    kinds = [rec.kind for rec in resources.audit.records()]
    assert "login_failed" in kinds and "login" in kinds


def test_session_cookie_is_secure_behind_tls(resources: Resources) -> None:
    open_collection(resources)
    add_user(resources)
    resources.settings = settings = resources.settings.model_copy(update={"cookie_secure": True})
    with TestClient(create_app(settings, resources, warm_up=False)) as client:
        r = _login(client)
        assert "Secure" in r.headers["set-cookie"]  # type: ignore[attr-defined]


def test_writes_need_the_csrf_token(app_client: TestClient) -> None:  # type: ignore[type-arg]
    _login(app_client)
    assert app_client.post("/api/ask", json=QUESTION).status_code == 403
    r = app_client.post("/api/ask", json=QUESTION, headers={"x-csrf-token": "forged"})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    token = _page_csrf(app_client)
    r = app_client.post("/api/ask", json=QUESTION, headers={"x-csrf-token": token})
    assert r.status_code == 200 and r.json()["citations"]


def test_the_login_form_itself_needs_its_csrf_token(app_client: TestClient) -> None:  # type: ignore[type-arg]
    r = app_client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_idle_and_absolute_session_expiry() -> None:
    from assistant.auth.principal import Principal

    clock = Clock()
    sessions = SessionManager(idle_s=15 * 60, absolute_s=3600, clock=clock)
    s = sessions.create(Principal("alice", "employee"))
    clock.now += 14 * 60
    assert sessions.get(s.id) is not None  # activity restarts the idle clock
    clock.now += 14 * 60
    assert sessions.get(s.id) is not None
    clock.now += 16 * 60
    assert sessions.get(s.id) is None  # idle for 16 minutes: logged off
    s = sessions.create(Principal("alice", "employee"))
    for _ in range(7):
        clock.now += 10 * 60
        sessions.get(s.id)
    assert sessions.get(s.id) is None  # 70 minutes old: past the absolute lifetime


def test_idle_logoff_through_the_app(resources: Resources) -> None:
    clock = Clock()
    resources.access.sessions.clock = clock
    open_collection(resources)
    add_user(resources)
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        _login(client)
        assert client.get("/").status_code == 200
        clock.now += resources.settings.session_idle_minutes * 60 + 1
        r = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303


def test_login_attempts_are_rate_limited(app_client: TestClient) -> None:  # type: ignore[type-arg]
    codes = [_login(app_client, password="nope nope nope").status_code for _ in range(6)]  # type: ignore[attr-defined]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429


def test_logout_ends_the_session(app_client: TestClient, resources: Resources) -> None:  # type: ignore[type-arg]
    _login(app_client)
    token = _page_csrf(app_client)
    r = app_client.post("/logout", headers={"x-csrf-token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert (
        app_client.post("/api/ask", json=QUESTION, headers={"x-csrf-token": token}).status_code
        == 401
    )
    assert "logout" in [rec.kind for rec in resources.audit.records()]


def test_api_tokens_and_their_revocation(app_client: TestClient, resources: Resources) -> None:  # type: ignore[type-arg]
    token = resources.access.store.issue_token("alice", "script")
    headers = {"Authorization": f"Bearer {token}"}
    assert app_client.post("/api/ask", json=QUESTION, headers=headers).status_code == 200
    resources.access.disable_user("alice", actor="test")
    assert app_client.post("/api/ask", json=QUESTION, headers=headers).status_code == 401
    bad = {"Authorization": "Bearer ast_not-a-token"}
    assert app_client.post("/api/ask", json=QUESTION, headers=bad).status_code == 401


def test_proxy_sign_on_only_from_trusted_addresses(resources: Resources) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    open_collection(resources)
    headers = {"X-Remote-User": "bob", "X-Remote-Groups": "staff,ops"}
    for trusted, expected in ((["10.9.9.9"], 401), (["127.0.0.0/8"], 200)):
        resources.__dict__.pop("access", None)
        resources.settings = resources.settings.model_copy(update={"trusted_proxies": trusted})
        app = create_app(resources.settings, resources, warm_up=False)
        with live_server(app) as base, httpx.Client(base_url=base, headers=headers) as client:
            r = client.get("/", headers={"accept": "application/json"})
            assert r.status_code == expected, (trusted, r.text)
            if expected == 200:
                r = client.post("/api/ask", json=QUESTION, headers={"origin": base})
                assert r.status_code == 200 and r.json()["citations"]
                r = client.post(
                    "/api/ask", json=QUESTION, headers={"origin": "http://evil.example"}
                )
                assert r.status_code == 403
    assert "bob" in [rec.actor for rec in resources.audit.records() if rec.kind == "login"]


def test_a_new_collection_is_visible_to_nobody(resources: Resources, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "memo.md").write_text("# Memo\n\nThe secret project is called Bluebird.\n")
    resources.ingestor.ingest([fresh], "fresh")
    token = add_user(resources, groups=("staff", "everyone"), clearance="top_secret")
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        body = client.post(
            "/api/ask", json={"question": "What is the secret project called?"}
        ).json()
        assert body["refused"] is True and body["citations"] == []
        assert "Bluebird" not in body["answer"]
