"""The admin page: users, collections with who may read them, and quarantined files.

Read-only: changes go through ``assistant users …`` and ``assistant collections
set …`` on the server, where each is audited. A collection without a rule, or
with a rule naming no group, is shown as "visible to nobody": that is how
retrieval treats it (deny by default, GDPR Art 25).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from assistant.auth.access import AccessControl, Forbidden
from assistant.auth.principal import Principal
from assistant.library import Library
from assistant.server.review_pages import NO_STORE, forbidden_page
from assistant.settings import Settings
from ingest.quarantine import Quarantine

ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class CollectionRow:
    name: str
    documents: int
    chunks: int
    groups: list[str]
    label: str | None  # None: no rule yet
    visible: bool  # some group may read it

    @property
    def audience(self) -> str:
        if not self.visible:
            return "visible to nobody"
        return f"groups {', '.join(self.groups)} at {self.label} or above"


def collection_rows(library: Library, access: AccessControl) -> list[CollectionRow]:
    """Every collection with documents or a rule, and who may read it."""
    counts = {c.name: c for c in library.collections()}
    rules = access.collection_rules()
    rows = []
    for name in sorted(set(counts) | set(rules)):
        rule, count = rules.get(name), counts.get(name)
        groups = sorted(rule.groups) if rule else []
        rows.append(
            CollectionRow(
                name=name,
                documents=count.documents if count else 0,
                chunks=count.chunks if count else 0,
                groups=groups,
                label=rule.label.name if rule else None,
                visible=bool(groups),
            )
        )
    return rows


class AdminController(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def admin_page(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        library: Library,
        settings: Settings,
        principal: Principal,
    ) -> Template:
        try:
            access.require_role(principal, ADMIN_ROLE)
        except Forbidden as exc:
            return forbidden_page(request, principal, exc)
        quarantined = Quarantine(settings.quarantine_dir).entries()
        return Template(
            template_name="admin.html",
            context={
                "title": "Administration",
                "user": principal,
                "csrf": str(getattr(request.state, "csrf", "") or ""),
                "users": access.users(),
                "collections": collection_rows(library, access),
                "quarantined": quarantined,
                "max_file_mb": settings.max_file_mb,
            },
            headers=NO_STORE,
        )
