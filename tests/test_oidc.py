"""OIDC single sign-on against a real OpenID provider (node oidc-provider), on loopback.

The app is served for real (uvicorn) and an HTTP client plays the browser: it follows
the redirects to the provider, fills in its sign-in and consent forms and comes back
signed in, with the groups the provider vouched for. Local accounts still sign in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from assistant.auth.oidc import OidcClient
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.settings import Settings
from tests.conftest import PASSWORD, SAMPLE, add_user, open_collection
from tests.live import free_port, live_server
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, oidc_provider, submit


@dataclass
class Sso:
    url: str
    issuer: str
    resources: Resources


@pytest.fixture
def sso(settings: Settings, tmp_path: Path) -> Iterator[Sso]:
    port = free_port()
    settings = settings.model_copy(
        update={
            "oidc_issuer": f"http://127.0.0.1:{port}",
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
        }
    )
    res = Resources(settings, embedder=HashEmbedder())
    res.ingestor.ingest([SAMPLE], "sample")
    open_collection(res)
    add_user(res)  # a local account, alice
    try:
        with (
            live_server(create_app(settings, res, warm_up=False)) as url,
            oidc_provider(port, url, tmp_path) as provider,
        ):
            yield Sso(url, provider.issuer, res)
    finally:
        res.close()


def sign_in_at_provider(
    client: httpx.Client, url: str, user: str, next: str = "/"
) -> httpx.Response:
    page = client.get(f"{url}/auth/oidc/login", params={"next": next})
    assert page.url.port != httpx.URL(url).port, "not sent to the provider"
    consent = submit(client, page, login=user, password="any")
    return submit(client, consent)  # back at the app, through /auth/oidc/callback


def test_sign_in_through_the_provider_with_its_groups(sso: Sso) -> None:
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        login = client.get(f"{sso.url}/login")
        assert 'id="sso"' in login.text and 'id="username"' in login.text  # both ways
        back = sign_in_at_provider(client, sso.url, "hana", next="/?lang=en")
        assert back.status_code == 200 and back.url.path == "/" and "hana" in back.text
    logins = [r for r in sso.resources.audit.records() if r.kind == "login"]
    assert logins[-1].actor == "hana" and logins[-1].data["via"] == "oidc"
    assert logins[-1].data["groups"] == ["hr-team", "staff"]


def test_the_providers_keys_are_fetched_once_for_many_sign_ins(
    sso: Sso, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    real_get = httpx.get

    def counting_get(url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        fetched.append(str(url))
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(httpx, "get", counting_get)  # the app runs in this process
    for user in ("hana", "omar", "hana"):
        with httpx.Client(follow_redirects=True, timeout=30) as client:
            back = sign_in_at_provider(client, sso.url, user)
            assert back.status_code == 200 and user in back.text
    assert len([u for u in fetched if "jwks" in u]) == 1, fetched


def test_the_callback_refuses_a_sign_in_begun_in_another_browser(sso: Sso) -> None:
    with httpx.Client(follow_redirects=True, timeout=30) as victim:
        page = victim.get(f"{sso.url}/auth/oidc/login")
        consent = submit(victim, page, login="carl", password="any")
        action = re.search(r'<form[^>]*action="([^"]+)"', consent.text)
        assert action
        # the attacker's browser finishes with the victim's code: no state cookie there
        redirect = victim.post(
            consent.url.join(action.group(1)),
            data={"prompt": "consent"},
            follow_redirects=False,
        )
        while redirect.status_code in (302, 303) and "/auth/oidc/callback" not in str(
            redirect.headers["location"]
        ):
            redirect = victim.get(redirect.headers["location"], follow_redirects=False)
        callback = redirect.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=30) as attacker:
        r = attacker.get(callback)
        assert r.status_code == 401 and "did not start in this browser" in r.text
        assert "assistant_session" not in r.cookies
        r = attacker.get(f"{sso.url}/auth/oidc/callback", params={"error": "access_denied"})
        assert r.status_code == 401 and "access_denied" in r.text


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        ("bad-signature", "ID token was refused"),
        ("wrong-issuer", "iss"),
        ("wrong-audience", "aud"),
        ("expired", "expired"),
        ("wrong-nonce", "nonce"),
        ("not-a-token", "ID token was refused"),
    ],
)
def test_a_defective_id_token_is_refused_with_a_clear_page_and_audited(
    sso: Sso, login: str, reason: str
) -> None:
    """The real provider's token endpoint hands out the defect its user name asks for
    (tests/oidc/provider.mjs), signed with its real key unless the signature is the defect."""
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        r = sign_in_at_provider(client, sso.url, login)
        assert r.status_code == 401 and r.url.path == "/auth/oidc/callback"
        assert "Single sign-on failed" in r.text and reason in r.text, r.text[-1500:]
        assert not any(c.name == "assistant_session" and c.value for c in client.cookies.jar)
    failed = [x for x in sso.resources.audit.records() if x.kind == "login_failed"]
    assert failed and failed[-1].data["via"] == "oidc"
    assert reason in failed[-1].data["reason"]
    assert not [x for x in sso.resources.audit.records() if x.kind == "login"]


def test_a_replayed_callback_is_refused_and_audited(sso: Sso) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        page = client.get(f"{sso.url}/auth/oidc/login")
        page = client.get(page.headers["location"], follow_redirects=True)
        consent = submit(client, page, login="alice", password="any")
        consent = (
            client.get(consent.headers["location"], follow_redirects=True)
            if (consent.status_code in (302, 303))
            else consent
        )
        step = submit(client, consent)
        while "/auth/oidc/callback" not in step.headers.get("location", ""):
            step = client.get(step.headers["location"])
        callback = step.headers["location"]
        first = client.get(callback)
        assert first.status_code == 303 and first.headers["location"] == "/"
        client.cookies.set("assistant_oidc_state", httpx.URL(callback).params["state"])
        again = client.get(callback)  # the same code and state, the state cookie put back
        assert again.status_code == 401 and "expired" in again.text
    failed = [x for x in sso.resources.audit.records() if x.kind == "login_failed"]
    assert failed and failed[-1].data["via"] == "oidc"


def test_sign_out_ends_the_session_here_and_at_the_provider(sso: Sso) -> None:
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        sign_in_at_provider(client, sso.url, "alice")
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get(f"{sso.url}/").text)
        assert token
        out = client.post(
            f"{sso.url}/logout", headers={"x-csrf-token": token.group(1)}, follow_redirects=False
        )
        assert out.status_code == 303
        target = httpx.URL(out.headers["location"])
        assert str(target).startswith(f"{sso.issuer}/session/end")
        assert target.params["post_logout_redirect_uri"] == f"{sso.url}/login"
        assert target.params["id_token_hint"]
        ended = client.get(f"{sso.url}/", follow_redirects=False)
        assert ended.status_code in (302, 303, 401) or "/login" in ended.headers.get("location", "")
        confirm = client.get(target)  # the provider asks to confirm the sign-out
        assert confirm.status_code == 200 and "logout" in confirm.text.lower()


def test_local_accounts_still_sign_in_and_a_disabled_one_is_refused_by_sso(sso: Sso) -> None:
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        page = client.get(f"{sso.url}/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        r = client.post(
            f"{sso.url}/login",
            data={"username": "alice", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"},
        )
        assert r.status_code == 200 and r.url.path == "/"
    sso.resources.access.store.set_disabled("alice", True)
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        r = sign_in_at_provider(client, sso.url, "alice")
        assert r.status_code == 401 and "disabled" in r.text


def test_groups_are_mapped_and_only_mapped_ones_count_with_a_map() -> None:
    plain = OidcClient("http://127.0.0.1:1", "assistant")
    assert plain.map_groups(["staff", " hr-team "]) == {"staff", "hr-team"}
    assert plain.map_groups("staff") == {"staff"} and plain.map_groups(None) == frozenset()
    mapped = OidcClient("http://127.0.0.1:1", "assistant", group_map={"hr-team": "hr"})
    assert mapped.map_groups(["staff", "hr-team"]) == {"hr"}


@pytest.mark.browser
def test_single_sign_on_in_a_real_browser(browser: Any, sso: Sso, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    blocked: list[str] = []

    def loopback_only(route: Any) -> None:  # the provider's dev form imports a web font
        if httpx.URL(route.request.url).host == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{sso.url}/")
    page.wait_for_url(re.compile(r"/login"))
    page.screenshot(path=str(tmp_path / "login-with-sso.png"))
    page.click("#sso")
    page.wait_for_url(re.compile(r"/interaction/"))
    page.fill("input[name=login]", "hana")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=prompt][value=consent]", state="attached")
    page.click("button[type=submit]")
    page.wait_for_url(f"{sso.url}/")
    page.screenshot(path=str(tmp_path / "signed-in-by-sso.png"))
    assert "hana" in page.content()
    assert all("127.0.0.1" not in u for u in blocked)  # only foreign hosts were stopped
    context.close()

    arabic = browser.new_context(viewport={"width": 1100, "height": 760}, locale="ar-SA")
    page = arabic.new_page()
    page.goto(f"{sso.url}/login")
    assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "ar"
    assert page.inner_text("#sso").strip() == "الدخول الموحّد"
    page.screenshot(path=str(tmp_path / "login-with-sso-arabic.png"))
    arabic.close()
