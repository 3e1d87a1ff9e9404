"""How a simulated user signs in: a pluggable step, run once per user before the mix.

``form_login`` does what a browser does; ``no_login`` is for a server without
sign-in; ``pick_login`` chooses between them by asking for the sign-in page.
Another scheme (a token, a proxy header) is one more ``Login`` function.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx

from tests.bench.load_server import Account

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')

Login = Callable[[httpx.AsyncClient, Account], Awaitable[None]]


async def no_login(client: httpx.AsyncClient, account: Account) -> None:
    """For a server without sign-in."""


async def form_login(client: httpx.AsyncClient, account: Account) -> None:
    """Sign in as a browser does: the form and its CSRF cookie, then the page's CSRF token.

    The session cookie stays in the client's jar; the chat page's ``csrf-token``
    meta goes into the header every write sends.
    """
    page = await client.get("/login")
    page.raise_for_status()
    token = CSRF_FIELD.search(page.text)
    if token is None:
        raise RuntimeError("the sign-in form has no csrf field")
    r = await client.post(
        "/login",
        data={
            "username": account.name,
            "password": account.password,
            "csrf": token.group(1),
            "next": "/",
        },
    )
    if r.status_code != 303:
        raise RuntimeError(f"sign-in as {account.name} failed: {r.status_code} {r.text[:200]}")
    home = await client.get("/")
    meta = CSRF_META.search(home.text)
    if home.status_code != 200 or meta is None:
        raise RuntimeError(f"signed in, but the chat page ({home.status_code}) has no csrf-token")
    client.headers["x-csrf-token"] = meta.group(1)


async def pick_login(client: httpx.AsyncClient) -> tuple[Login, str]:
    """``form_login`` when the server has a sign-in page, else ``no_login``."""
    r = await client.get("/login")
    if r.status_code == 404:
        return no_login, "no sign-in page (GET /login is 404): users do not sign in"
    return form_login, "users sign in through the form (GET and POST /login), then load the page"
