"""Administrators create a collection and upload files into it through the API: each
file's outcome streamed, bad ones refused or quarantined with their reason, good ones
searchable, everything audited; nobody else may."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from assistant.audit.filters import ExportFilter
from assistant.resources import Resources
from assistant.server.app import create_app
from tests.conftest import add_user


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "file":
            out.append(json.loads(fields["data"]))
    return out


def test_an_admin_creates_a_collection_and_uploads_into_it(resources: Resources) -> None:
    settings = resources.settings.model_copy(update={"max_file_mb": 1})
    resources.settings = settings
    admin = {"Authorization": f"Bearer {add_user(resources, 'adam', role='admin')}"}
    staff = {"Authorization": f"Bearer {add_user(resources, 'alice', groups=('hr',))}"}
    with TestClient(create_app(settings, resources, warm_up=False)) as client:
        made = client.post(
            "/api/collections",
            json={"name": "hr-policies", "groups": ["hr"], "label": "restricted"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        assert made.json() == {
            "name": "hr-policies", "groups": ["hr"], "label": "restricted", "redact_pii": False
        }  # fmt: skip
        assert (
            client.post(
                "/api/collections", json={"name": "../etc", "groups": []}, headers=admin
            ).status_code
            == 400
        )
        assert (
            client.post(
                "/api/collections", json={"name": "x", "groups": []}, headers=staff
            ).status_code
            == 403
        )

        files = [
            ("files", ("../../leave policy.md", b"# Leave\n\nStaff get 30 days of leave.\n")),
            ("files", ("empty.txt", b"")),
            ("files", ("huge.txt", b"x" * (2 * 2**20))),
            ("files", ("tool.exe", bytes(range(256)) * 64)),
        ]
        sent = client.post("/api/upload/hr-policies", files=files, headers=admin)
        assert sent.status_code == 201, sent.text
        events = {e["file"]: e for e in _events(sent.text) if e.get("file")}
        assert events["../../leave policy.md"]["state"] == "added"
        assert events["../../leave policy.md"]["stored_as"] == "leave policy.md"  # no folders
        assert events["empty.txt"] == {
            "file": "empty.txt", "state": "refused", "reason": "the file is empty", "size": 0
        }  # fmt: skip
        assert events["huge.txt"]["state"] == "refused" and "1 MB" in events["huge.txt"]["reason"]
        assert events["tool.exe"]["state"] == "quarantined" and events["tool.exe"]["reason"]
        inbox = settings.inbox_dir / "hr-policies"
        assert sorted(p.name for p in inbox.iterdir()) == ["leave policy.md", "tool.exe"]

        # again: the same name does not overwrite, the same bytes are a duplicate
        again = client.post("/api/upload/hr-policies", files=files[:1], headers=admin)
        (event,) = _events(again.text)[1:]
        assert (event["stored_as"], event["state"]) == ("leave policy-1.md", "duplicate")

        assert (
            client.post("/api/upload/hr-policies", files=files[:1], headers=staff).status_code
            == 403
        )
        assert client.post("/api/upload/..", files=files[:1], headers=admin).status_code in (
            400,
            404,
        )

    hits = resources.retriever.retrieve("How many days of leave do staff get?")
    assert hits and hits[0].document.collection == "hr-policies"
    (upload, _) = list(resources.audit.records(ExportFilter(kinds=("upload",))))
    assert upload.actor == "adam" and upload.data["collection"] == "hr-policies"
    assert [f["refused"] is None for f in upload.data["files"]] == [True, False, False, True]
    assert resources.audit.payload(upload) == {
        "names": ["../../leave policy.md", "empty.txt", "huge.txt", "tool.exe"]
    }
    (acl,) = resources.audit.records(ExportFilter(kinds=("acl_change",)))
    assert acl.actor == "adam" and acl.data["label"] == "restricted"
