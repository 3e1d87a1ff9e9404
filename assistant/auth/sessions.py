"""Server-side sessions: idle timeout, absolute lifetime, and a CSRF token per session.

Sessions live in memory: a restart signs everyone out, which is the safe
failure. The clock is injectable so tests can move time (HIPAA 164.312(a)(2)(iii),
automatic logoff).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from assistant.auth.principal import Principal


@dataclass(slots=True)
class Session:
    id: str
    principal: Principal
    csrf: str
    created: float
    last_seen: float
    #: the OIDC provider's ID token of a single sign-on session: sign-out at the provider
    id_token: str | None = None


class SessionManager:
    def __init__(
        self,
        *,
        idle_s: float = 15 * 60,
        absolute_s: float = 12 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def create(self, principal: Principal, *, id_token: str | None = None) -> Session:
        now = self.clock()
        session = Session(
            secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32), now, now, id_token
        )
        with self._lock:
            self._expire(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session, its idle clock restarted; None if unknown or expired."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s or now - session.created > self.absolute_s:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def end(self, session_id: str | None) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id or "", None)

    def end_user(self, user: str) -> int:
        """Sign a user out everywhere (e.g. when the account is disabled)."""
        with self._lock:
            ids = [sid for sid, s in self._sessions.items() if s.principal.user == user]
            for sid in ids:
                del self._sessions[sid]
        return len(ids)

    def _expire(self, now: float) -> None:
        dead = [
            sid
            for sid, s in self._sessions.items()
            if now - s.last_seen > self.idle_s or now - s.created > self.absolute_s
        ]
        for sid in dead:
            del self._sessions[sid]
