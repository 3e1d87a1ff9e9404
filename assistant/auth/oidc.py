"""OpenID Connect single sign-on: the authorization code flow with PKCE, as a relying party.

``OidcClient`` knows one provider (``OIDC_ISSUER``) from its discovery document.
``begin()`` makes the provider URL to send the browser to, with a fresh ``state``,
``nonce`` and PKCE verifier (S256) that it keeps for ten minutes, bound to the
browser by the ``state`` cookie the web layer sets. ``finish()`` takes the
callback's ``code`` and ``state``: it exchanges the code (with the verifier) at the
token endpoint (authlib), checks the ID token's signature against the provider's
published keys, its issuer, audience, expiry and nonce (joserfc), and returns who
signed in and the groups the provider vouches for, mapped to ours (``OIDC_GROUP_MAP``:
with a map, only the groups it names count; without one, the provider's groups are
ours). ``logout_url()`` is the provider's end-session URL for RP-initiated sign-out.

No HTTP framework here: the web layer (server/oidc_api.py) calls it.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from assistant.auth.access import NotAuthenticated
from assistant.errors import ConfigError

#: How long a sign-in may take at the provider.
PENDING_S = 600.0
#: How long the provider's signing keys are trusted before they are fetched again.
JWKS_TTL_S = 300.0
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    user: str
    groups: frozenset[str]
    id_token: str  # kept with the session: sign-out at the provider names it
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: str
    nonce: str
    redirect_uri: str
    next: str
    created: float


class OidcClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        scopes: str = "openid profile email groups",
        user_claim: str = "preferred_username",
        groups_claim: str = "groups",
        group_map: dict[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.user_claim = user_claim
        self.groups_claim = groups_claim
        self.group_map = dict(group_map or {})
        self.timeout_s = timeout_s
        self._meta: dict[str, Any] | None = None
        self._jwks: tuple[float, Any] | None = None  # (when fetched, the provider's keys)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    # -- the provider -----------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once (its issuer must be ours)."""
        if self._meta is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                meta = httpx.get(url, timeout=self.timeout_s).raise_for_status().json()
            except (httpx.HTTPError, ValueError) as exc:
                raise ConfigError(f"OIDC provider {self.issuer} unreachable: {exc}") from exc
            if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
                raise ConfigError(f"OIDC discovery names issuer {meta.get('issuer')!r}")
            self._meta = meta
        return self._meta

    def _keys(self, fresh: bool = False) -> Any:
        """The provider's signing keys, fetched at most every ``JWKS_TTL_S`` seconds
        (``fresh``: now, as a token signed with a key we do not hold may follow a rotation)."""
        from joserfc.jwk import KeySet

        cached = self._jwks
        if not fresh and cached is not None and time.monotonic() - cached[0] < JWKS_TTL_S:
            return cached[1]
        try:
            jwks = httpx.get(self.metadata()["jwks_uri"], timeout=self.timeout_s)
            keys = KeySet.import_key_set(jwks.raise_for_status().json())
        except (httpx.HTTPError, ValueError) as exc:
            raise ConfigError(f"OIDC provider {self.issuer} keys unreadable: {exc}") from exc
        self._jwks = (time.monotonic(), keys)
        return keys

    # -- the flow ----------------------------------------------------------------------
    def begin(self, redirect_uri: str, next_url: str = "/") -> tuple[str, str]:
        """(the provider URL to send the browser to, the state to bind to the browser)."""
        from authlib.common.security import generate_token
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        state, nonce, verifier = secrets.token_urlsafe(24), generate_token(32), generate_token(64)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, p in self._pending.items() if now - p.created > PENDING_S]:
                del self._pending[key]
            self._pending[state] = _Pending(verifier, nonce, redirect_uri, next_url, now)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(query)}", state

    def finish(self, code: str, state: str, bound_state: str | None) -> tuple[OidcIdentity, str]:
        """(who signed in, where they were going). Raises ``NotAuthenticated``."""
        if not bound_state or not secrets.compare_digest(state, bound_state):
            raise NotAuthenticated("the sign-in did not start in this browser; try again")
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.created > PENDING_S:
            raise NotAuthenticated("the sign-in expired; try again")
        token = self._exchange(code, pending)
        claims = self._verify(token["id_token"], pending.nonce)
        user = claims.get(self.user_claim) or claims.get("sub")
        if not user or not isinstance(user, str):
            raise NotAuthenticated("the provider named no user")
        return OidcIdentity(user, self.map_groups(claims.get(self.groups_claim)),
                            token["id_token"], claims), pending.next  # fmt: skip

    def _exchange(self, code: str, pending: _Pending) -> dict[str, Any]:
        from authlib.integrations.httpx_client import OAuth2Client

        auth = "client_secret_basic" if self.client_secret else "none"
        with OAuth2Client(
            self.client_id,
            self.client_secret,
            token_endpoint_auth_method=auth,
            redirect_uri=pending.redirect_uri,
            timeout=self.timeout_s,
        ) as client:
            try:
                token: dict[str, Any] = client.fetch_token(
                    self.metadata()["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.verifier,
                )
            except Exception as exc:  # authlib's OAuthError, httpx errors
                raise NotAuthenticated(f"the provider refused the sign-in: {exc}") from exc
        if not token.get("id_token"):
            raise NotAuthenticated("the provider sent no ID token")
        return token

    def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            try:
                decoded = jwt.decode(id_token, self._keys(), algorithms=ALGORITHMS)
            except (JoseError, ValueError):  # perhaps signed with a key rotated in since
                decoded = jwt.decode(id_token, self._keys(fresh=True), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise NotAuthenticated(f"the ID token was refused: {exc}") from exc
        return dict(decoded.claims)

    def map_groups(self, value: Any) -> frozenset[str]:
        names = [value] if isinstance(value, str) else list(value or [])
        names = [str(n).strip() for n in names if str(n).strip()]
        if not self.group_map:
            return frozenset(names)
        return frozenset(self.group_map[n] for n in names if n in self.group_map)

    def logout_url(self, id_token: str | None, return_to: str) -> str | None:
        """The provider's end-session URL (None: it has none)."""
        end = self.metadata().get("end_session_endpoint")
        if not end:
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": return_to}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{end}?{urlencode(query)}"


def oidc_client(settings: Any) -> OidcClient | None:
    """The configured provider's client (None: single sign-on is off)."""
    s = settings
    if not s.oidc_issuer:
        return None
    secret = s.oidc_client_secret.get_secret_value() if s.oidc_client_secret else None
    return OidcClient(
        s.oidc_issuer,
        s.oidc_client_id,
        secret,
        scopes=s.oidc_scopes,
        user_claim=s.oidc_user_claim,
        groups_claim=s.oidc_groups_claim,
        group_map=s.oidc_group_map,
    )
