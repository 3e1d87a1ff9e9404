"""Administrators add documents from the page: create a collection (its groups and label),
then drop files into it, and watch each file go through the pipeline (ingest/upload.py).

Thin: the checks, the placing and the ingest are ingest/upload.py's, who may read a
collection is AccessControl's, and both are audited (``upload``, ``acl_change``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from assistant.audit.ingests import record_upload
from assistant.auth.access import AccessControl
from assistant.auth.principal import Level, Principal
from assistant.auth.store import parse_groups
from assistant.errors import InvalidInput
from assistant.resources import Resources
from assistant.server.relay import relay
from ingest.quarantine import Quarantine
from ingest.upload import COLLECTION, Received, ingest_received, receive

ADMIN_ROLE = "admin"
#: One request carries at most this much (the per-file cap is ``max_file_mb``).
MAX_REQUEST_BYTES = 1024 * 2**20


@dataclass
class CollectionRequest:
    name: str
    groups: list[str] = field(default_factory=list)
    label: str = "public"
    redact_pii: bool = False


def _collection(name: str) -> str:
    if not COLLECTION.match(name or ""):
        raise InvalidInput("a collection's name is letters, digits, - and _ (64 at most)")
    return name


class UploadController(Controller):
    path = "/api"
    tags = ["admin"]

    @post("/collections", status_code=201, sync_to_thread=True, summary="Create a collection")
    def create_collection(
        self,
        data: CollectionRequest,
        access: AccessControl,
        resources: Resources,
        principal: Principal,
    ) -> dict[str, Any]:
        access.require_role(principal, ADMIN_ROLE)
        name = _collection(data.name)
        try:
            label = Level.parse(data.label)
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"unknown label {data.label!r}") from exc
        rule = access.set_collection(
            name, parse_groups(data.groups), label, actor=principal.user,
            redact_pii=data.redact_pii,
        )  # fmt: skip
        (resources.settings.inbox_dir / name).mkdir(parents=True, exist_ok=True)
        return {"name": rule.name, "groups": sorted(rule.groups), "label": rule.label.name,
                "redact_pii": rule.redact_pii}  # fmt: skip

    @post(
        "/upload/{collection:str}",
        summary="Upload files into a collection; each file's progress as server-sent events",
        request_max_body_size=MAX_REQUEST_BYTES,
    )
    async def upload(
        self,
        collection: str,
        data: Annotated[list[UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)],
        access: AccessControl,
        resources: Resources,
        principal: Principal,
    ) -> ServerSentEvent:
        access.require_role(principal, ADMIN_ROLE)
        _collection(collection)
        settings = resources.settings
        folder = settings.inbox_dir / collection
        max_bytes = settings.max_file_mb * 2**20
        received: list[Received] = []
        digests: list[dict[str, Any]] = []
        for upload in data:
            content = await upload.read()
            got = receive(folder, upload.filename or "upload", content, max_bytes=max_bytes)
            received.append(got)
            digests.append({"name": got.name, "size": got.size, "refused": got.refused,
                            "sha256": hashlib.sha256(content).hexdigest()})  # fmt: skip
        record_upload(resources.audit, actor=principal.user, collection=collection, files=digests)
        quarantine = Quarantine(settings.quarantine_dir)

        def produce(_: Any) -> Iterator[dict[str, Any]]:
            yield {"file": None, "state": "received", "files": len(received)}
            yield from ingest_received(resources.ingestor, quarantine, received, collection)

        return ServerSentEvent(_messages(relay(produce)))


async def _messages(events: Any) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async for item in events:
            if isinstance(item, Exception):
                detail = {"state": "failed", "reason": f"{type(item).__name__}: {item}"}
                yield ServerSentEventMessage(event="file", data=json.dumps(detail))
                break
            yield ServerSentEventMessage(event="file", data=json.dumps(item, ensure_ascii=False))
        yield ServerSentEventMessage(event="done", data="{}")
    finally:
        await events.aclose()
