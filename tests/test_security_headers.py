"""Every response of ``assistant serve`` carries the security headers, with or without our
nginx in front: pages, API, static files, errors, unknown paths, signed in or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from assistant.resources import Resources
from assistant.server.app import create_app
from assistant.server.security import CONTENT_SECURITY_POLICY

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def client(resources: Resources) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(resources.settings, resources, warm_up=False)) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),  # the chat page, or the sign-in redirect
        ("GET", "/login"),
        ("GET", "/static/app.js"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/no/such/page"),  # 404 before any handler
        ("POST", "/api/ask"),  # 401 without a session
        ("GET", "/v1/models"),  # the OpenAI endpoint, refused without a key
    ],
)
def test_every_response_has_the_headers(
    client: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
) -> None:
    response = client.request(method, path, follow_redirects=False)
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (path, response.status_code, name)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_signed_in_page_and_the_api_too(
    client: TestClient,  # type: ignore[type-arg]
    auth: dict[str, str],
) -> None:
    client.headers.update(auth)
    for path in ("/", "/api/preferences"):
        response = client.get(path)
        assert response.status_code < 400, (path, response.status_code)
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
