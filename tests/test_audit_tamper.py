"""Every way of altering the log that issue 5 names, caught by ``assistant audit verify``:
exit 1, and the output says what happened and where."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.audit import AuditLog
from assistant.audit.checkpoint import Checkpoint, copy_name, write_copy
from assistant.audit.keys import generate, sign
from assistant.cli.main import cli
from assistant.settings import Settings
from tests.audit_support import attacker, fill

N = 20  # records; a checkpoint every 5, so the last one covers all 20


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_AUDIT_CHECKPOINT_EVERY": "5"}


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "keygen"], env=env).exit_code == 0
    s = Settings(data_dir=tmp_path / "data", audit_checkpoint_every=5)
    log = AuditLog.from_settings(s)
    fill(log, N)
    log.close()
    return s


def _verify(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    return result.exit_code, result.output


def test_an_untouched_log_verifies(settings: Settings, env: dict[str, str]) -> None:
    code, out = _verify(env)
    assert code == 0, out
    assert f"OK: {N} records" in out and "4 checkpoints" in out


def _edit_bytes(s: Settings) -> None:
    """Change a record's bytes in the database file itself, as a disk editor would."""
    path = s.audit_dir / "chain.sqlite"
    raw = path.read_bytes()
    assert raw.count(b"original-0007") == 1
    path.write_bytes(raw.replace(b"original-0007", b"tampered-0007"))


def _delete_middle(s: Settings) -> None:
    with attacker(s.audit_dir / "chain.sqlite") as db:
        db.execute("DELETE FROM records WHERE seq = 7")


def _reorder(s: Settings) -> None:
    with attacker(s.audit_dir / "chain.sqlite") as db:
        a = db.execute("SELECT hash, body FROM records WHERE seq = 7").fetchone()
        b = db.execute("SELECT hash, body FROM records WHERE seq = 8").fetchone()
        db.execute("UPDATE records SET hash = ?, body = ? WHERE seq = 7", b)
        db.execute("UPDATE records SET hash = ?, body = ? WHERE seq = 8", a)


def _truncate_tail(s: Settings) -> None:
    with attacker(s.audit_dir / "chain.sqlite") as db:
        db.execute("DELETE FROM records WHERE seq > 17")


def _truncate_tail_and_its_checkpoints(s: Settings) -> None:
    """The attacker also deletes the checkpoints in the log: the copies still tell."""
    with attacker(s.audit_dir / "chain.sqlite") as db:
        db.execute("DELETE FROM records WHERE seq > 17")
        db.execute("DELETE FROM checkpoints WHERE tree_size > 15")


def _forge_checkpoint(s: Settings) -> None:
    """Re-sign the last checkpoint with a key of the attacker's own, in the log and the copy."""
    evil_key, evil_pub = s.data_dir / "evil.key", s.data_dir / "evil.pub"
    generate(evil_key, evil_pub)
    with attacker(s.audit_dir / "chain.sqlite") as db:
        body = db.execute("SELECT body FROM checkpoints WHERE tree_size = ?", (N,)).fetchone()[0]
        real = Checkpoint.from_bytes(body)
        signature, kid = sign(evil_key, real.signed_bytes())
        forged = Checkpoint(
            real.origin, N, real.root, real.timestamp, kid, base64.b64encode(signature).decode()
        )
        db.execute("UPDATE checkpoints SET body = ? WHERE tree_size = ?", (forged.to_bytes(), N))
    write_copy(s.audit_checkpoint_copy, forged)


TAMPERS: dict[str, tuple[Callable[[Settings], None], str, int | None]] = {
    "edited": (_edit_bytes, "[edited] seq 7: the record's bytes do not match its hash", 7),
    "deleted": (_delete_middle, "[deleted] seq 7: record(s) 7 missing before seq 8", 7),
    "reordered": (_reorder, "[reordered] seq 7: position 7 holds record 8", 7),
    "truncated": (_truncate_tail, "[truncated] seq 18: the log ends at seq 17", 18),
    "truncated_with_checkpoints": (
        _truncate_tail_and_its_checkpoints,
        "[truncated] seq 18: the log ends at seq 17",
        18,
    ),
    "forged": (_forge_checkpoint, f"[forged] checkpoint {N} (signed", None),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_verify_catches_and_locates(case: str, settings: Settings, env: dict[str, str]) -> None:
    tamper, expected, seq = TAMPERS[case]
    tamper(settings)
    code, out = _verify(env)
    assert code == 1, out
    assert expected in out, out
    assert "error: the audit log failed verification" in out
    log = AuditLog.from_settings(settings, seal_on_close=False)
    report = log.verify()
    log.close()
    assert not report.ok
    if seq is not None:
        assert seq in {p.seq for p in report.problems}


def test_reorder_reports_both_positions(settings: Settings, env: dict[str, str]) -> None:
    _reorder(settings)
    _, out = _verify(env)
    assert "position 7 holds record 8" in out and "position 8 holds record 7" in out


def test_truncation_with_deleted_checkpoints_names_the_missing_copy(
    settings: Settings, env: dict[str, str]
) -> None:
    _truncate_tail_and_its_checkpoints(settings)
    _, out = _verify(env)
    assert f"checkpoint {N} (signed" in out and "is in" in out and "but not in the log" in out


def test_a_configured_key_that_did_not_sign_rejects_every_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    other_key, other_pub = tmp_path / "other.key", tmp_path / "other.pub"
    generate(other_key, other_pub)
    s = settings.model_copy(update={"audit_public_key_path": other_pub})
    log = AuditLog.from_settings(s, seal_on_close=False)
    report = log.verify()
    log.close()
    forged = [p for p in report.problems if p.kind == "forged"]
    assert len(forged) == 4 and "does not verify with the audit public key" in forged[0].message


def test_searchable_columns_cannot_lie(settings: Settings) -> None:
    """Renaming the actor in the indexed column (so filters hide a record) is caught."""
    with attacker(settings.audit_dir / "chain.sqlite") as db:
        db.execute("UPDATE records SET actor = 'nobody' WHERE seq = 3")
    log = AuditLog.from_settings(settings, seal_on_close=False)
    problems = log.verify().problems
    log.close()
    assert [(p.kind, p.seq) for p in problems] == [("edited", 3)]


def test_an_edited_or_vanished_payload_is_caught(settings: Settings) -> None:
    path = settings.audit_dir / "payloads.sqlite"
    with attacker(path) as db:
        db.execute("UPDATE payloads SET body = replace(body, 'answer 4', 'answer X')")
        db.execute("DELETE FROM payloads WHERE body LIKE '%question number 9?%'")
    log = AuditLog.from_settings(settings, seal_on_close=False)
    problems = log.verify().problems
    log.close()
    assert [(p.kind, p.seq) for p in problems] == [("payload", 4), ("payload", 9)]
    assert "edited" in problems[0].message and "never erased" in problems[1].message


def test_a_rewritten_chain_fails_against_the_signed_roots(settings: Settings) -> None:
    """Edit a record and recompute every hash after it: the chain is consistent again, but
    the signed Merkle roots are not."""
    from assistant.audit.records import AuditRecord, decode_body

    with attacker(settings.audit_dir / "chain.sqlite") as db:
        rows = db.execute("SELECT seq, hash, body FROM records ORDER BY seq").fetchall()
        prev = None
        for seq, digest, body in rows:
            rec = decode_body(body, digest)
            data = {"note": "rewritten"} if seq == 12 else rec.data
            new = AuditRecord(
                rec.seq, rec.ts, rec.kind, rec.actor, prev or rec.prev_hash, data, rec.payload_hash
            ).sealed()
            db.execute(
                "UPDATE records SET hash = ?, body = ? WHERE seq = ?", (new.hash, new.body(), seq)
            )
            prev = new.hash
    log = AuditLog.from_settings(settings, seal_on_close=False)
    problems = log.verify().problems
    log.close()
    assert [(p.kind, p.seq) for p in problems] == [("root", 15), ("root", 20)]


def test_copies_are_one_file_per_checkpoint(settings: Settings) -> None:
    names = sorted(p.name for p in settings.audit_checkpoint_copy.iterdir())
    assert names == [copy_name(n) for n in (5, 10, 15, 20)]
    cp = json.loads((settings.audit_checkpoint_copy / copy_name(20)).read_text())
    assert cp["tree_size"] == 20 and cp["origin"].startswith("assistant-audit/")
