"""Access control as a service: sign-in, sign-out, accounts and collection rules, all audited.

The web layer and the CLI call this; it holds no HTTP or click code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from assistant.auth.principal import Level, Principal
from assistant.auth.ratelimit import RateLimiter
from assistant.auth.sessions import Session, SessionManager
from assistant.auth.store import AuthStore, CollectionRule, User, parse_groups
from assistant.errors import AssistantError, ConfigError

Record = Callable[[str, str, Mapping[str, Any]], object]


class NotAuthenticated(AssistantError):
    code = "not_authenticated"
    status_code = 401


class Forbidden(AssistantError):
    code = "forbidden"
    status_code = 403


def _no_audit(kind: str, actor: str, data: Mapping[str, Any]) -> None:
    return None


class AccessControl:
    def __init__(
        self,
        store: AuthStore,
        sessions: SessionManager,
        *,
        login_limiter: RateLimiter,
        question_limiter: RateLimiter,
        export_limiter: RateLimiter,
        trusted_proxies: list[str] | None = None,
        record: Record = _no_audit,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.login_limiter = login_limiter
        self.question_limiter = question_limiter
        self.export_limiter = export_limiter
        try:
            self.trusted_proxies = [
                ipaddress.ip_network(p, strict=False) for p in trusted_proxies or []
            ]
        except ValueError as exc:
            raise ConfigError(f"trusted_proxies: {exc}") from exc
        self.record = record
        self._proxy_seen: set[str] = set()

    # -- signing in and out ------------------------------------------------------------
    def login(self, name: str, password: str, *, address: str) -> Session:
        # One budget per account and one per address: guessing is slow either way.
        self.login_limiter.hit(f"user:{name}", "sign-in attempts")
        self.login_limiter.hit(f"addr:{address}", "sign-in attempts")
        user = self.store.authenticate(name, password)
        if user is None:
            self.record("login_failed", name or "-", {"address": address})
            raise NotAuthenticated("wrong user name or password")
        session = self.sessions.create(user.principal("session"))
        self.record("login", user.name, {"address": address, "via": "password"})
        return session

    def sso_login(
        self, user: str, groups: frozenset[str], *, address: str, id_token: str, via: str = "oidc"
    ) -> Session:
        """A session for ``user`` whom an identity provider vouched for (auth/oidc.py).

        Groups come from the provider; role and clearance, and more groups, from a local
        account of the same name when there is one, otherwise employee / public. A
        disabled local account stays disabled."""
        local = self.store.user(user)
        if local is not None and local.disabled:
            self.record("login_failed", user, {"address": address, "via": via})
            raise Forbidden("this account is disabled")
        principal = Principal(
            user=user,
            role=local.role if local else "employee",
            groups=groups | (local.groups if local else frozenset()),
            clearance=local.clearance if local else Level.public,
            via=via,
        )
        session = self.sessions.create(principal, id_token=id_token)
        self.record("login", user, {"address": address, "via": via, "groups": sorted(groups)})
        return session

    def logout(
        self, session_id: str | None, *, address: str, reason: str = "user"
    ) -> Session | None:
        """End the session; the one ended (None: there was none)."""
        session = self.sessions.end(session_id)
        if session is not None:
            self.record("logout", session.principal.user, {"address": address, "reason": reason})
        return session

    def session(self, session_id: str | None) -> Session | None:
        """The live session of that id (None: unknown, ended or expired)."""
        return self.sessions.get(session_id)

    def from_token(self, token: str) -> Principal | None:
        user = self.store.user_for_token(token)
        return user.principal("token") if user else None

    def is_trusted_proxy(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)

    def proxy_principal(self, user: str, groups_header: str, *, address: str) -> Principal:
        """Single sign-on through a trusted reverse proxy: the proxy vouches for the user.

        Groups come from the proxy; role and clearance from a local account of the
        same name when there is one, otherwise employee / public. The first request
        of each user in this process is audited as a login.
        """
        local = self.store.user(user)
        if local is not None and local.disabled:
            raise Forbidden("this account is disabled")
        principal = Principal(
            user=user,
            role=local.role if local else "employee",
            groups=parse_groups(groups_header) | (local.groups if local else frozenset()),
            clearance=local.clearance if local else Level.public,
            via="proxy",
        )
        if user not in self._proxy_seen:
            self._proxy_seen.add(user)
            self.record("login", user, {"address": address, "via": "proxy"})
        return principal

    # -- administration ----------------------------------------------------------------
    def add_user(
        self,
        name: str,
        password: str,
        *,
        role: str,
        groups: frozenset[str],
        clearance: Level,
        actor: str,
    ) -> User:
        user = self.store.add_user(name, password, role=role, groups=groups, clearance=clearance)
        self.record(
            "user_change",
            actor,
            {
                "action": "add",
                "user": name,
                "role": role,
                "groups": sorted(groups),
                "clearance": clearance.name,
            },
        )
        return user

    def disable_user(self, name: str, *, actor: str) -> None:
        self.store.set_disabled(name, True)
        ended = self.sessions.end_user(name)
        self.record("user_change", actor, {"action": "disable", "user": name, "sessions": ended})

    def set_collection(
        self,
        name: str,
        groups: frozenset[str],
        label: Level,
        *,
        actor: str,
        redact_pii: bool | None = None,
    ) -> CollectionRule:
        """Set who may read ``name``; ``redact_pii`` None keeps its current setting."""
        before = self.store.collection_rules().get(name)
        if redact_pii is None:
            redact_pii = before.redact_pii if before is not None else False
        rule = self.store.set_collection(name, groups, label, redact_pii)
        self.record(
            "acl_change",
            actor,
            {
                "collection": name,
                "groups": sorted(groups),
                "label": label.name,
                "redact_pii": redact_pii,
                "before": (
                    {
                        "groups": sorted(before.groups),
                        "label": before.label.name,
                        "redact_pii": before.redact_pii,
                    }
                    if before
                    else None
                ),
            },
        )
        return rule

    def users(self) -> list[User]:
        return self.store.users()

    def collection_rules(self) -> dict[str, CollectionRule]:
        return self.store.collection_rules()

    def visible_collections(self, principal: Principal) -> frozenset[str] | None:
        return self.store.visible_collections(principal)

    def language(self, principal: Principal) -> str | None:
        """The language ``principal`` chose for the pages (None: their browser's)."""
        return self.store.language(principal.user)

    def set_language(self, principal: Principal, language: str | None) -> None:
        """A person's own setting: not a change of access, so not audited."""
        self.store.set_language(principal.user, language)

    def admit_question(self, principal: Principal) -> frozenset[str] | None:
        """Rate-limit the asker and return the collections they may read."""
        self.question_limiter.hit(principal.user, "questions")
        return self.visible_collections(principal)

    def admit_export(self, principal: Principal) -> None:
        """Rate-limit the exporter: exports are heavy and carry personal data."""
        self.export_limiter.hit(principal.user, "exports")

    def require_role(self, principal: Principal, *roles: str) -> None:
        if principal.role not in roles and not principal.unrestricted:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
