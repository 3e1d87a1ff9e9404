"""Exports parse back to the very records in the log, and every export is itself audited."""

from __future__ import annotations

import hashlib
import io
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.audit import AuditLog, EventKind
from assistant.audit.export import ExportFilter, parse_when, read_export
from assistant.cli.main import cli
from assistant.settings import Settings
from tests.audit_support import Clock, make_log

TRICKY = 'He said "=HYPERLINK(\\"http://evil\\")", then, on a new line:\n@SUM(A1) ; ünïcødé ✓'


def _populate(log: AuditLog) -> None:
    clock = log.clock
    assert isinstance(clock, Clock)
    log.record("login", "alice", {"ip_class": "lan"})
    clock.advance(days=1)
    log.record("question", "alice", {"refused": False}, {"question": TRICKY, "answer": "-1"})
    clock.advance(days=1)
    log.record("login_failed", "=cmd|' /C calc'!A0", {"reason": "bad password"})
    log.record("acl_change", "admin", {"collection": "hr", "groups": ["hr"], "label": "secret"})
    clock.advance(days=1)
    log.record("question", "bob", {"score": 0.8125}, {"question": "q", "answer": "a"})
    log.record("logout", "alice")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trip(tmp_path: Path, fmt: str) -> None:
    log = make_log(tmp_path)
    _populate(log)
    expected = list(log.records())
    out = io.StringIO()
    summary = log.export(out, "csv" if fmt == "csv" else "jsonl", actor="officer")
    text = out.getvalue()
    rows = read_export(text, "csv" if fmt == "csv" else "jsonl")
    assert [r.record for r in rows] == expected
    assert all(r.record.computed_hash() == r.record.hash for r in rows)  # re-hashable by anyone
    assert [r.personal for r in rows] == [log.payload(r) for r in expected]
    assert rows[1].personal is not None and rows[1].personal["question"] == TRICKY

    # the export itself is the newest record: who, which filters, how many, the file's hash
    audit = next(log.records(newest_first=True, limit=1))
    assert audit.kind == EventKind.AUDIT_EXPORT and audit.actor == "officer"
    assert audit.data["records"] == len(expected) == summary.count
    assert audit.data["sha256"] == hashlib.sha256(text.encode()).hexdigest() == summary.sha256
    assert audit.data["complete"] is True and audit.data["format"] == fmt
    assert log.verify().ok
    log.close()


def test_csv_formula_cells_are_defused(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    _populate(log)
    out = io.StringIO()
    log.export(out, "csv", actor="officer")
    lines = out.getvalue().splitlines()
    assert any(",'=cmd|" in line for line in lines)  # the actor cell starts with a quote
    assert not any(",=cmd|" in line for line in lines)
    log.close()


def test_filters(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    _populate(log)
    start = datetime(2025, 3, 2, tzinfo=UTC)

    def kinds(flt: ExportFilter) -> list[str]:
        return [r.kind for r in log.records(flt)]

    assert kinds(ExportFilter(actor="alice")) == ["login", "question", "logout"]
    assert kinds(ExportFilter(kinds=("question",))) == ["question", "question"]
    assert kinds(ExportFilter(start=start, end=parse_when("2025-03-03", end=True))) == [
        "question",
        "login_failed",
        "acl_change",
    ]
    assert kinds(ExportFilter(start=start, actor="bob", kinds=("question", "logout"))) == [
        "question"
    ]
    out = io.StringIO()
    summary = log.export(out, "jsonl", ExportFilter(actor="bob"), actor="officer", personal=False)
    rows = read_export(out.getvalue(), "jsonl")
    assert summary.count == 1 and rows[0].personal is None
    assert summary.record.data["filters"]["user"] == "bob"
    assert summary.record.data["personal"] is False
    log.close()


def test_cli_export_to_a_private_file(tmp_path: Path) -> None:
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "keygen"], env=env).exit_code == 0
    log = AuditLog.from_settings(Settings(data_dir=tmp_path / "data"))
    log.record("login", "alice")
    log.record("question", "alice", {}, {"question": "why?", "answer": "because"})
    log.record("login", "bob")
    log.close()
    dest = tmp_path / "out" / "alice.csv"
    args = ["audit", "export", "--user", "alice", "--event", "question", "--event", "login"]
    result = runner.invoke(cli, [*args, "--format", "csv", "-o", str(dest)], env=env)
    assert result.exit_code == 0, result.output
    assert "exported 2 record(s)" in result.output
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    rows = read_export(dest.read_text(encoding="utf-8"), "csv")
    assert [(r.record.kind, r.record.actor) for r in rows] == [
        ("login", "alice"),
        ("question", "alice"),
    ]
    stdout = runner.invoke(cli, ["audit", "export", "--event", "audit_export"], env=env)
    exported = read_export(stdout.stdout, "jsonl")
    assert [r.record.kind for r in exported] == ["audit_export"]
    assert exported[0].record.data["filters"]["user"] == "alice"
    bad = runner.invoke(cli, ["audit", "export", "--from", "yesterday"], env=env)
    assert bad.exit_code == 1 and "not a date or time" in bad.output
