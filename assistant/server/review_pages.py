"""The compliance review page: filter the audit log, page through it, open a question.

Only the compliance role may read it (an admin manages users and documents, and
does not read what people asked: separation of duties). Everyone else gets a
403 page, and the refusal is itself recorded. Every view -- list or record --
is recorded as ``audit_view`` with its filters; search words, which may name a
person, go to the erasable payload, not the chain.

The header shows the last verification of the whole log, refreshed in the
background (``assistant/audit/monitor.py``), never re-run per page load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.response import Template

from assistant.audit.export import ExportFilter, parse_when
from assistant.audit.log import AuditLog
from assistant.audit.monitor import VerifyStatus, monitor_for
from assistant.audit.records import KINDS, EventKind, event_kind
from assistant.audit.search import Page, one, page
from assistant.auth.access import AccessControl, Forbidden
from assistant.auth.principal import Principal
from assistant.errors import AssistantError, AuditError
from assistant.library import Library
from assistant.server import review_view as view
from assistant.settings import Settings

REVIEW_ROLE = "compliance"
NO_STORE = {"Cache-Control": "no-store"}  # personal data: never kept by the browser
FILTER_FIELDS = ("user", "from", "to", "collection", "event", "q")


class InvalidFilter(AssistantError):
    code = "invalid_filter"
    status_code = 400


def parse_filter(query: Any) -> tuple[ExportFilter, dict[str, str]]:
    """The review filter from query parameters; also the form's values to show back.
    Raises ``InvalidFilter`` with a sentence for the page on a bad date or event type."""
    form = {name: str(query.get(name) or "").strip() for name in FILTER_FIELDS}
    try:
        start = parse_when(form["from"]) if form["from"] else None
        end = parse_when(form["to"], end=True) if form["to"] else None
        kinds = (event_kind(form["event"]).value,) if form["event"] else ()
    except AuditError as exc:
        raise InvalidFilter(exc.message, hint=exc.hint) from None
    if start and end and start > end:
        raise InvalidFilter("the start date is after the end date")
    flt = ExportFilter(
        start=start,
        end=end,
        actor=form["user"] or None,
        kinds=kinds,
        collection=form["collection"] or None,
        text=form["q"] or None,
    )
    return flt, form


def _cursor(query: Any, name: str) -> int | None:
    raw = str(query.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidFilter(f"{name} must be a record number")
    return int(raw)


def verify_status(audit: AuditLog, settings: Settings, *, force: bool = False) -> VerifyStatus:
    """The last verification, starting a background run if it is stale."""
    minutes = settings.review_verify_minutes
    monitor = monitor_for(audit, max_age=timedelta(minutes=minutes))
    return monitor.refresh(force=force)


def forbidden_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    exc: Forbidden,
    *,
    record: AuditLog | None = None,
    page_name: str = "review",
) -> Template:
    """A 403 page (not a JSON error, not a crash). With ``record`` (the audit log), the
    attempt to read the audit log is itself recorded."""
    if record is not None:
        record.record(EventKind.AUDIT_VIEW, principal.user, {"page": page_name, "denied": True})
    return Template(
        template_name="review.html",
        context={
            "forbidden": exc.message,
            "user": principal,
            "csrf": _csrf(request),
            "title": "Not allowed",
        },
        status_code=403,
        headers=NO_STORE,
    )


def _csrf(request: Request[Any, Any, Any]) -> str:
    return str(getattr(request.state, "csrf", "") or "")


def _known_collections(library: Library, access: AccessControl) -> list[str]:
    names = {c.name for c in library.collections()}
    names |= set(access.collection_rules())
    return sorted(names)


def _link(form: dict[str, str], **cursor: int) -> str:
    params = {k: v for k, v in form.items() if v}
    params.update({k: str(v) for k, v in cursor.items()})
    return "/review?" + urlencode(params) if params else "/review"


class ReviewController(Controller):
    path = "/review"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def list_page(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        audit: AuditLog,
        library: Library,
        settings: Settings,
        principal: Principal,
    ) -> Template:
        try:
            access.require_role(principal, REVIEW_ROLE)
        except Forbidden as exc:
            return forbidden_page(request, principal, exc, record=audit)
        query = request.query_params
        error: str | None = None
        result: Page | None = None
        try:
            flt, form = parse_filter(query)
            before, after = _cursor(query, "before"), _cursor(query, "after")
        except InvalidFilter as exc:
            error = exc.message + (f" ({exc.hint})" if exc.hint else "")
            flt, form = ExportFilter(), {k: str(query.get(k) or "") for k in FILTER_FIELDS}
            before = after = None
        if error is None:
            size = settings.review_page_size
            result = page(audit, flt, before=before, after=after, size=size)
            audit.record(
                EventKind.AUDIT_VIEW,
                principal.user,
                {
                    "page": "review",
                    "filters": flt.to_dict(),
                    "before": before,
                    "after": after,
                    "shown": [r.seq for r in result.rows],
                },
                flt.personal(),
            )
        rows = [
            {
                "seq": r.seq,
                "when": view.when(r.record.ts) if r.record else "",
                "kind": r.record.kind if r.record else "unreadable",
                "actor": r.record.actor if r.record else "",
                "collections": r.collections,
                "summary": view.summary(r),
                "refused": bool(r.record and r.record.data.get("refused")),
                "erased": view.when(r.erased[0]) if r.erased else None,
                "problem": r.problem,
            }
            for r in (result.rows if result else [])
        ]
        return Template(
            template_name="review.html",
            context={
                "title": "Audit review",
                "user": principal,
                "csrf": _csrf(request),
                "status": verify_status(audit, settings),
                "form": form,
                "kinds": sorted(KINDS),
                "collections": _known_collections(library, access),
                "users": [u.name for u in access.users()],
                "rows": rows,
                "page": result,
                "newer": _link(form, after=result.newer) if result and result.newer else None,
                "older": _link(form, before=result.older) if result and result.older else None,
                "newest": _link(form) if before is not None or after is not None else None,
                "error": error,
                "here": _here(request),
                "when": view.when,
            },
            status_code=400 if error else 200,
            headers=NO_STORE,
        )

    @get("/{seq:int}", sync_to_thread=True)
    def record_page(
        self,
        request: Request[Any, Any, Any],
        access: AccessControl,
        audit: AuditLog,
        settings: Settings,
        principal: Principal,
        seq: int,
    ) -> Template:
        try:
            access.require_role(principal, REVIEW_ROLE)
        except Forbidden as exc:
            return forbidden_page(request, principal, exc, record=audit, page_name="record")
        row = one(audit, seq)
        record = row.record if row else None
        data: dict[str, Any] = {"page": "record", "seq": seq, "found": row is not None}
        if row is not None and record is not None and record.payload_hash:
            data["texts"] = "shown" if row.personal is not None else "erased"
        audit.record(EventKind.AUDIT_VIEW, principal.user, data)
        context: dict[str, Any] = {
            "title": f"Record {seq}",
            "user": principal,
            "csrf": _csrf(request),
            "status": verify_status(audit, settings),
            "seq": seq,
            "row": row,
            "record": record,
            "when": view.when,
            "back": _back(request),
        }
        if record is not None:
            texts = row.personal if row else None
            context.update(
                {
                    "collections": row.collections if row else [],
                    "hash_ok": record.computed_hash() == record.hash,
                    "passages": view.passages(record, texts),
                    "data_fields": view.fields(record.data),
                    "texts": texts,
                    "text_fields": view.fields(texts) if texts else [],
                    "erased": row.erased if row else None,
                }
            )
            if record.kind == EventKind.FEEDBACK:  # the answer rated, as it was given
                rated = one(audit, int(record.data.get("question_seq", 0)))
                if rated is not None and rated.record is not None:
                    context["rated"] = rated
                    context["rated_passages"] = view.passages(rated.record, rated.personal)
        return Template(
            template_name="review_detail.html",
            context=context,
            status_code=200 if row is not None else 404,
            headers=NO_STORE,
        )


def _here(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _back(request: Request[Any, Any, Any]) -> str:
    """Back to the list with the filters it was opened from (passed along as ``back``)."""
    target = str(request.query_params.get("back") or "")
    return target if target.startswith("/review") and not target.startswith("//") else "/review"
