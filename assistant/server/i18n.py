"""The pages' language: which one a request gets, and its strings.

Two languages, English and Arabic, about a hundred strings: a dict catalogue
(assistant/server/catalogue.py) rather than gettext and Babel, which would add a
dependency, a compile step and .po files for what two dicts and CLDR's plural rules
for two languages do. The locale of a page is, first to last:

1. the signed-in user's own choice, kept in the accounts store (the switch on the
   chat page: ``POST /api/preferences``);
2. the choice last made in this browser (a cookie set with it, for the sign-in page);
3. the browser's ``Accept-Language``;
4. English.

Arabic pages run right to left (``<html lang="ar" dir="rtl">``). What the assistant
*answers* follows the question instead (assistant/answering/service.py).
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from assistant.server.catalogue import CATALOGUES, Entry
from assistant.text.language import LANGUAGES, direction

DEFAULT = "en"
#: The cookie that carries the last explicit choice to the sign-in page.
LANGUAGE_COOKIE = "assistant_lang"
_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*$")


def supported(language: str | None) -> str | None:
    """``language`` if the pages speak it, else None."""
    return language if language in LANGUAGES else None


def negotiate(accept_language: str | None) -> str | None:
    """The supported language the browser ranks highest (RFC 9110 ``Accept-Language``:
    tags with ``q`` weights; ``ar-SA`` is ``ar``); None when it names none of them."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        match = _TAG.match(tag)
        if not match:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = supported(match.group(1).lower())
        if language and q > 0 and (best is None or (-q, i) < (-best[0], best[1])):
            best = (q, i, language)
    return best[2] if best else None


def choose(
    preference: str | None = None, cookie: str | None = None, accept_language: str | None = None
) -> str:
    """The locale of a page: the user's setting, this browser's last choice, the browser's
    languages, English (see the module's docstring)."""
    return supported(preference) or supported(cookie) or negotiate(accept_language) or DEFAULT


def page_locale(request: Any, preference: str | None = None) -> dict[str, Any]:
    """What a page's template needs to speak the request's language: ``locale``, ``dir``."""
    locale = choose(
        preference,
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )
    return {"locale": locale, "dir": direction(locale)}


def plural(language: str, n: int) -> str:
    """The CLDR plural category of ``n`` in ``language`` (integers)."""
    if language == "ar":
        if n == 0:
            return "zero"
        if n in (1, 2):
            return "one" if n == 1 else "two"
        rest = n % 100
        return "few" if 3 <= rest <= 10 else "many" if 11 <= rest <= 99 else "other"
    return "one" if n == 1 else "other"


def _form(entry: Entry, language: str, n: Any) -> str:
    if isinstance(entry, str):
        return entry
    category = plural(language, int(n)) if n is not None else "other"
    return entry.get(category) or entry["other"]


def translate(locale: str, key: str, **values: Any) -> str:
    """The string ``key`` in ``locale`` with its ``{placeholders}`` filled; a count ``n``
    picks the plural form. A key missing from ``locale`` falls back to English."""
    entry = CATALOGUES.get(locale, CATALOGUES[DEFAULT]).get(key) or CATALOGUES[DEFAULT][key]
    return _form(entry, locale, values.get("n")).format(**values)


def script_strings(locale: str) -> dict[str, Entry]:
    """The strings the chat page's script needs (``js.`` and ``error.``), for its JSON."""
    catalogue = CATALOGUES.get(locale, CATALOGUES[DEFAULT])
    return {k: v for k, v in catalogue.items() if k.startswith(("js.", "error."))}


def error_detail(code: str, message: str, language: str) -> str:
    """An error's detail for a reader of ``language``: the catalogue's sentence for its code
    in a language other than English, else the error's own (English) message."""
    if language == DEFAULT:
        return message
    entry = CATALOGUES.get(language, {}).get(f"error.{code}")
    return _form(entry, language, None) if entry else message


@pass_context
def _t(context: Context, key: str, **values: Any) -> Markup:
    """``t(key, ...)`` in a template: in the page's ``locale``; values are escaped, the
    catalogue's text is trusted (a value may be ``Markup``, e.g. a ``<code>`` snippet)."""
    locale = context.get("locale") or DEFAULT
    entry = CATALOGUES.get(locale, CATALOGUES[DEFAULT]).get(key) or CATALOGUES[DEFAULT][key]
    return Markup(_form(entry, locale, values.get("n"))).format(**values)


def install(environment: Any) -> None:
    """Give every template ``t(...)`` and ``text_direction(locale)``; a page rendered
    without a ``locale`` (the review and admin pages) is English."""
    environment.globals["t"] = _t
    environment.globals["text_direction"] = direction
