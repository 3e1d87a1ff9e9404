"""Accounts, API tokens and collection access rules, in SQLite (``DATA_DIR/auth.sqlite``).

Passwords are hashed with argon2id (argon2-cffi); API tokens are random and
stored only as their SHA-256. A collection with no rule is visible to nobody
(GDPR Art 25: deny by default).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from assistant.auth.principal import ROLES, Level, Principal
from assistant.domain import utcnow
from assistant.errors import AssistantError, NotFound
from assistant.store import sqlite
from assistant.text.language import LANGUAGES

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    groups TEXT NOT NULL,
    clearance INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    groups TEXT NOT NULL,
    label INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
-- a person's own settings, by user name: single sign-on users have no row in users
CREATE TABLE IF NOT EXISTS preferences (
    user TEXT PRIMARY KEY,
    language TEXT,
    updated_at TEXT NOT NULL
);
"""

TOKEN_PREFIX = "ast_"
_ARGON2_SLOTS = threading.BoundedSemaphore(2)


class InvalidUser(AssistantError):
    code = "invalid_user"
    status_code = 400


class InvalidPreference(AssistantError):
    code = "invalid_preference"
    status_code = 400


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    groups: frozenset[str]
    clearance: Level
    disabled: bool

    def principal(self, via: str = "session") -> Principal:
        return Principal(self.name, self.role, self.groups, self.clearance, via=via)


@dataclass(frozen=True, slots=True)
class CollectionRule:
    name: str
    groups: frozenset[str]
    label: Level
    #: mask personal data (assistant/text/pii.py) in its answers, sources and exports
    redact_pii: bool = False


def parse_groups(value: str | list[str] | None) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else (value or [])
    return frozenset(g.strip() for g in items if g and g.strip())


class AuthStore:
    def __init__(self, path: Path, *, hasher: PasswordHasher | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite.connect(path)
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(collections)")}
        if "redact_pii" not in columns:  # a store from before redaction
            self._db.execute(
                "ALTER TABLE collections ADD COLUMN redact_pii INTEGER NOT NULL DEFAULT 0"
            )
        self._lock = threading.Lock()
        self._hasher = hasher or PasswordHasher()
        # verifying against this keeps unknown-user logins as slow as wrong passwords
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- users ---------------------------------------------------------------------
    def add_user(
        self, name: str, password: str, *, role: str, groups: frozenset[str], clearance: Level
    ) -> User:
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise InvalidUser(f"invalid user name {name!r}: use letters, digits, . _ -")
        if role not in ROLES:
            raise InvalidUser(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if len(password) < 12:
            raise InvalidUser("the password must have at least 12 characters")
        with self._lock:
            if self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise InvalidUser(f"user {name!r} already exists")
            self._db.execute(
                "INSERT INTO users (name, password_hash, role, groups, clearance, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    self._hasher.hash(password),
                    role,
                    json.dumps(sorted(groups)),
                    int(clearance),
                    utcnow().isoformat(),
                ),
            )
        return User(name, role, groups, clearance, False)

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, role, groups, clearance, disabled FROM users WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        return User(row[0], row[1], frozenset(json.loads(row[2])), Level(row[3]), bool(row[4]))

    def users(self) -> list[User]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM users ORDER BY name")]
        return [u for n in names if (u := self.user(n)) is not None]

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        with self._lock:
            cur = self._db.execute(
                "UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)
            )
            if disabled:
                self._db.execute("DELETE FROM api_tokens WHERE user = ?", (name,))
        if cur.rowcount == 0:
            raise NotFound(f"no such user: {name}")

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 12:
            raise InvalidUser("the password must have at least 12 characters")
        with self._lock:
            cur = self._db.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?",
                (self._hasher.hash(password), name),
            )
        if cur.rowcount == 0:
            raise NotFound(f"no such user: {name}")

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches and the account is enabled, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT password_hash FROM users WHERE name = ?", (name,)
            ).fetchone()
        stored = row[0] if row else self._dummy_hash
        try:
            with _ARGON2_SLOTS:  # each check takes ~64 MiB and a core: bound them
                self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        user = self.user(name) if row else None
        return user if user is not None and not user.disabled else None

    # -- a person's settings -------------------------------------------------------
    def language(self, name: str) -> str | None:
        """The language ``name`` chose for the pages; None: their browser's."""
        with self._lock:
            row = self._db.execute(
                "SELECT language FROM preferences WHERE user = ?", (name,)
            ).fetchone()
        return str(row[0]) if row and row[0] else None

    def set_language(self, name: str, language: str | None) -> None:
        """Keep ``language`` (None: follow the browser again) as ``name``'s choice."""
        if language is not None and language not in LANGUAGES:
            raise InvalidPreference(
                f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}"
            )
        with self._lock:
            self._db.execute(
                "INSERT INTO preferences (user, language, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(user) DO UPDATE SET language = excluded.language, "
                "updated_at = excluded.updated_at",
                (name, language, utcnow().isoformat()),
            )

    # -- API tokens ----------------------------------------------------------------
    def issue_token(self, name: str, label: str = "") -> str:
        """A new token for scripts; only its hash is stored, so show it once."""
        user = self.user(name)
        if user is None or user.disabled:
            raise NotFound(f"no enabled user named {name}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_tokens (token_sha256, user, label, created_at) "
                "VALUES (?, ?, ?, ?)",
                (_sha256(token), name, label, utcnow().isoformat()),
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT user FROM api_tokens WHERE token_sha256 = ?", (_sha256(token),)
            ).fetchone()
        user = self.user(row[0]) if row else None
        return user if user is not None and not user.disabled else None

    # -- collection access rules ------------------------------------------------------
    def set_collection(
        self, name: str, groups: frozenset[str], label: Level, redact_pii: bool = False
    ) -> CollectionRule:
        if not name:
            raise InvalidUser("a collection needs a name")
        with self._lock:
            self._db.execute(
                "INSERT INTO collections (name, groups, label, updated_at, redact_pii) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET groups = "
                "excluded.groups, label = excluded.label, updated_at = excluded.updated_at, "
                "redact_pii = excluded.redact_pii",
                (name, json.dumps(sorted(groups)), int(label), utcnow().isoformat(), redact_pii),
            )
        return CollectionRule(name, groups, label, redact_pii)

    def collection_rules(self) -> dict[str, CollectionRule]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, groups, label, redact_pii FROM collections"
            ).fetchall()
        return {
            r[0]: CollectionRule(r[0], frozenset(json.loads(r[1])), Level(r[2]), bool(r[3]))
            for r in rows
        }

    def redacting(self, collections: Iterable[str]) -> bool:
        """Whether any of ``collections`` is set to mask personal data."""
        rules = self.collection_rules()
        return any(rules[c].redact_pii for c in collections if c in rules)

    def visible_collections(self, principal: Principal) -> frozenset[str] | None:
        """The collections ``principal`` may read; None means all (the CLI operator)."""
        if principal.unrestricted:
            return None
        return frozenset(
            rule.name
            for rule in self.collection_rules().values()
            if principal.can_see(rule.groups, rule.label)
        )


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
