"""The pages in English and Arabic: the catalogue, the choice of locale (a user's setting,
then the browser's), and right-to-left pages."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from assistant.answering.queue import QueueTimeout
from assistant.resources import Resources
from assistant.server import i18n
from assistant.server.app import create_app
from assistant.server.catalogue import AR, CATALOGUES, EN, Entry
from assistant.server.errors import stream_error
from assistant.text.language import detect
from tests.conftest import SAMPLE, add_user, open_collection

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PLURAL_FORMS = {"en": {"one", "other"}, "ar": {"zero", "one", "two", "few", "many", "other"}}


def _fields(entry: Entry) -> set[str]:
    forms = [entry] if isinstance(entry, str) else list(entry.values())
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def test_every_key_is_in_every_language_with_the_same_placeholders() -> None:
    assert set(CATALOGUES) == {"en", "ar"}
    assert set(EN) == set(AR), set(EN) ^ set(AR)
    for key in EN:
        assert _fields(EN[key]) == _fields(AR[key]), key
        for language, catalogue in CATALOGUES.items():
            entry = catalogue[key]
            assert entry, (language, key)
            if isinstance(entry, dict):
                assert "other" in entry and set(entry) <= PLURAL_FORMS[language], (language, key)


def test_every_key_the_templates_and_the_script_use_is_in_the_catalogue() -> None:
    used = set()
    for path in [*TEMPLATES.glob("*.html"), TEMPLATES / "static" / "app.js"]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    used |= {f"error.{code}" for code in ("busy", "timeout", "model_crashed", "rate_limited")}
    # app.js withheldKey: one label and one note per withheld_reason
    used |= {
        f"js.withheld_{r}{p}" for r in ("", "no_figure_", "off_topic_") for p in ("label", "note")
    }
    assert used and used <= set(EN), used - set(EN)
    js = {k for k in used if k.startswith("js.")}
    assert js <= set(i18n.script_strings("ar"))


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("ar", "ar"),
        ("ar-SA,ar;q=0.9,en;q=0.8", "ar"),
        ("en-GB,en;q=0.9,ar;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,ar;q=0.5", "ar"),  # the best one the pages speak
        ("fr-FR,de;q=0.5", None),
        ("en;q=0.2,ar;q=0.7", "ar"),
        ("ar;q=0,en", "en"),  # q=0: not acceptable
        ("*", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_language_is_negotiated(header: str | None, locale: str | None) -> None:
    assert i18n.negotiate(header) == locale


def test_an_explicit_choice_beats_the_browser() -> None:
    assert i18n.choose(None, None, "ar") == "ar"
    assert i18n.choose("en", None, "ar") == "en"  # the user's setting
    assert i18n.choose(None, "en", "ar") == "en"  # this browser's last choice
    assert i18n.choose("ar", "en", "en") == "ar"  # the setting before the cookie
    assert i18n.choose("xx", "yy", "fr") == "en"


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "لا مستندات"),
        (1, "مستند واحد"),
        (2, "مستندان"),
        (5, "5 مستندات"),
        (11, "11 مستندًا"),
        (100, "100 مستند"),
    ],
)
def test_arabic_plurals(n: int, words: str) -> None:
    assert i18n.translate("ar", "page.documents", n=n) == words


def test_english_plurals_and_placeholders() -> None:
    assert i18n.translate("en", "page.documents", n=1) == "1 document"
    assert i18n.translate("en", "page.documents", n=7) == "7 documents"
    assert i18n.translate("en", "js.model", model="m") == "Model: m"
    assert i18n.translate("xx", "js.model", model="m") == "Model: m"  # unknown: English


@pytest.fixture
def app(resources: Resources) -> Iterator[TestClient]:  # type: ignore[type-arg]
    resources.ingestor.ingest([SAMPLE], "sample")
    open_collection(resources)
    add_user(resources)
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as client:
        yield client


def _sign_in(client: TestClient) -> str:  # type: ignore[type-arg]
    """Sign in with the form and return the chat page's CSRF token."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    form = {"username": "alice", "password": "correct horse battery staple"}
    r = client.post("/login", data={**form, "csrf": csrf.group(1), "next": "/"})
    assert r.status_code == 200, r.text
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token
    return token.group(1)


def _strings(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="i18n-strings">(.*?)</script>', page)
    assert found
    return dict(json.loads(found.group(1)))


def test_the_browser_language_picks_the_page_language(app: TestClient) -> None:  # type: ignore[type-arg]
    login = app.get("/login", headers={"accept-language": "ar-SA,ar;q=0.9"}).text
    assert '<html lang="ar" dir="rtl">' in login and "اسم المستخدم" in login
    _sign_in(app)
    page = app.get("/", headers={"accept-language": "ar-SA,ar;q=0.9,en;q=0.5"}).text
    assert '<html lang="ar" dir="rtl">' in page
    assert "اسأل مستنداتك" in page and 'dir="auto"' in page  # the question box
    assert _strings(page)["js.answer"] == "الإجابة"
    english = app.get("/", headers={"accept-language": "en-US"}).text
    assert '<html lang="en" dir="ltr">' in english and "Ask your documents" in english
    assert _strings(english)["js.answer"] == "Answer"


def test_a_users_own_choice_is_kept_and_beats_the_browser(
    app: TestClient, resources: Resources
) -> None:  # type: ignore[type-arg]
    csrf = _sign_in(app)
    arabic_browser = {"accept-language": "ar"}
    assert app.get("/api/preferences").json() == {"language": None}
    r = app.post("/api/preferences", json={"language": "en"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json() == {"language": "en"}
    assert i18n.LANGUAGE_COOKIE in r.headers["set-cookie"]
    assert '<html lang="en" dir="ltr">' in app.get("/", headers=arabic_browser).text
    assert resources.access.store.language("alice") == "en"  # kept in the accounts store
    # the sign-in page follows the choice made in this browser
    app.post("/logout", headers={"x-csrf-token": csrf})
    assert '<html lang="en"' in app.get("/login", headers=arabic_browser).text
    csrf = _sign_in(app)
    r = app.post("/api/preferences", json={"language": None}, headers={"x-csrf-token": csrf})
    assert r.json() == {"language": None}  # back to the browser's languages
    assert '<html lang="ar" dir="rtl">' in app.get("/", headers=arabic_browser).text


def test_a_choice_needs_a_known_language_and_the_csrf_token(app: TestClient) -> None:  # type: ignore[type-arg]
    csrf = _sign_in(app)
    r = app.post("/api/preferences", json={"language": "xx"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 400 and r.json()["error"] == "invalid_preference"
    assert app.post("/api/preferences", json={"language": "ar"}).status_code == 403


def test_a_failed_sign_in_is_told_in_the_page_language(app: TestClient) -> None:  # type: ignore[type-arg]
    page = app.get("/login", headers={"accept-language": "ar"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    data = {"username": "alice", "password": "not the password", "csrf": csrf.group(1)}
    r = app.post("/login", data=data, headers={"accept-language": "ar"})
    assert r.status_code == 401 and "اسم المستخدم أو كلمة المرور غير صحيحة." in r.text


def test_a_stream_error_speaks_the_language_of_the_question() -> None:
    error = QueueTimeout("waited 120 s for the model without a turn")
    assert stream_error(error) == ("timeout", "waited 120 s for the model without a turn")
    code, detail = stream_error(error, "ar")
    assert code == "timeout" and detect(detail) == "ar"
    assert stream_error(RuntimeError("boom"), "ar")[1] == "حدث خطأ في الخادم."
