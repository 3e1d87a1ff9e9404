"""The signed-in user as the rest of the app sees them, and the classification levels."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from assistant.errors import AssistantError


class Level(IntEnum):
    """Classification levels, as in NDMO's scheme: each includes those below it."""

    public = 0
    restricted = 1
    secret = 2
    top_secret = 3

    @classmethod
    def parse(cls, value: str) -> Level:
        try:
            return cls[value.strip().lower().replace("-", "_").replace(" ", "_")]
        except KeyError:
            names = ", ".join(level.name for level in cls)
            raise InvalidLevel(f"unknown classification {value!r}; use one of {names}") from None


class InvalidLevel(AssistantError):
    code = "invalid_level"
    status_code = 400


ROLES = ("employee", "compliance", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: str
    groups: frozenset[str] = field(default_factory=frozenset)
    clearance: Level = Level.public
    via: str = "session"  # session | token | proxy | oidc | cli
    unrestricted: bool = False  # the local CLI operator: sees every collection

    def can_see(self, groups: frozenset[str], label: Level) -> bool:
        """In an allowed group and cleared for the label; an empty group list allows nobody."""
        if self.unrestricted:
            return True
        return bool(self.groups & groups) and self.clearance >= label

    @property
    def permission_key(self) -> str:
        """What any cache of retrieved text must be keyed by."""
        if self.unrestricted:
            return "*"
        return f"{int(self.clearance)}:{','.join(sorted(self.groups))}"


#: The local operator running the CLI on the server, who can read the data files anyway.
OPERATOR = Principal(user="cli-operator", role="admin", via="cli", unrestricted=True)
