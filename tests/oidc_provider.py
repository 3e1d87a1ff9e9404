"""A real OpenID provider for the tests: panva/oidc-provider on Debian's node, on loopback.

tests/oidc/provider.mjs configures it: one confidential client ``assistant`` (PKCE
required), accounts alice (staff), hana (hr-team, staff) and carl (contractors), and
its development sign-in form, which takes any user name. Its npm packages are
installed by ``make system-deps`` (``npm ci --prefix tests/oidc``), or here when missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "assistant"
CLIENT_SECRET = "oidc test secret, not a real one"


@dataclass(frozen=True)
class Provider:
    issuer: str
    log: Path


def ensure_installed() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise RuntimeError("node is missing: apt-get install nodejs npm (make system-deps)")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is missing: apt-get install npm (make system-deps)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    return node


@contextmanager
def oidc_provider(port: int, app_url: str, log_dir: Path) -> Iterator[Provider]:
    """The provider at http://127.0.0.1:PORT, sending users back to ``app_url``."""
    node = ensure_installed()
    log = log_dir / "oidc-provider.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), str(port),
             f"{app_url}/auth/oidc/callback", f"{app_url}/login"],
            stdout=out, stderr=subprocess.STDOUT, cwd=HERE,
        )  # fmt: skip
        issuer = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{issuer}/.well-known/openid-configuration").is_success:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the OIDC provider did not start: {log.read_text()}")
                time.sleep(0.2)
            yield Provider(issuer, log)
        finally:
            proc.terminate()
            proc.wait(10)


def submit(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the provider page's form (its hidden fields with ``fields``)."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action, page.text[:2000]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return client.post(page.url.join(action.group(1)), data={**hidden, **fields})
