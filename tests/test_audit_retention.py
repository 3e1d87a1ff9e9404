"""Retention: expired texts are erased per kind, an expired checkpointed prefix is replaced by
a signed anchor, the log still verifies, and every purge is a record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.audit import EventKind, RetentionPolicy
from assistant.audit.merkle import verify_inclusion
from assistant.cli.main import cli
from assistant.errors import ConfigError
from tests.audit_support import Clock, attacker, fill, make_log


def test_purge_drops_an_expired_prefix_behind_an_anchor(tmp_path: Path) -> None:
    clock = Clock(datetime(2017, 1, 1, tzinfo=UTC))
    log = make_log(tmp_path, every=5, clock=clock)
    old = fill(log, 12)  # checkpoints at 5 and 10
    clock.now = datetime(2024, 6, 1, tzinfo=UTC)  # 7.4 years later: all 12 expired (6 years)
    recent = fill(log, 3)

    report = log.purge(actor="dpo")
    # every record up to the last checkpoint inside the expired part goes; 11 and 12 stay,
    # as records without their texts
    assert report.records_dropped == 10 and report.anchor_tree_size == 10
    assert report.payloads_erased == {"question": 12}
    assert report.record.kind == EventKind.RETENTION_PURGE and report.record.actor == "dpo"
    assert report.record.data["anchor_tree_size"] == 10
    seqs = [r.seq for r in log.records()]
    assert seqs == [11, 12, 13, 14, 15, 16]
    assert log.payload(old[11]) is None and log.payload(recent[0]) is not None

    verified = log.verify()
    assert verified.ok, verified.problems
    assert (verified.first_seq, verified.erased_payloads, verified.payloads) == (11, 2, 3)

    # the chain carries on from the anchor; proofs still work without the dropped leaves
    more = fill(log, 6)
    log.checkpoint()
    proof = log.prove(13)
    assert verify_inclusion(
        bytes.fromhex(recent[0].hash),
        12,
        proof.checkpoint.tree_size,
        [bytes.fromhex(p) for p in proof.path],
        bytes.fromhex(proof.checkpoint.root),
    )
    assert more[-1].seq == 22 and log.verify().ok
    log.close()


def test_retention_is_per_kind(tmp_path: Path) -> None:
    clock = Clock()
    policy = RetentionPolicy(per_kind={"ingest": 30})
    log = make_log(tmp_path, clock=clock, retention=policy)
    ingest = log.record("ingest", "admin", {"doc_id": "d" * 64}, {"path": "/inbox/a.pdf"})
    question = log.record("question", "alice", {}, {"question": "q"})
    clock.advance(days=60)
    report = log.purge(actor="dpo")
    assert report.payloads_erased == {"ingest": 1} and report.records_dropped == 0
    assert log.payload(ingest) is None and log.payload(question) == {"question": "q"}
    assert report.record.data["retention_days"]["ingest"] == 30
    assert report.record.data["retention_days"]["question"] == 2192
    assert log.verify().ok
    log.close()


def test_a_prefix_dropped_without_a_purge_is_caught(tmp_path: Path) -> None:
    """Someone with the file copies what a purge does, but cannot add the purge record."""
    log = make_log(tmp_path, every=5)
    fill(log, 12)
    path = log.chain.path
    log.close()
    # let a real purge craft the anchor, then remove the purge record
    clock = Clock(datetime(2040, 1, 1, tzinfo=UTC))
    real = make_log(tmp_path, every=5, clock=clock)
    real.purge(actor="dpo")
    real.close()
    with attacker(path) as db:
        db.execute("DELETE FROM records WHERE kind = 'retention_purge'")
    log = make_log(tmp_path, every=5)
    problems = log.verify().problems
    log.close()
    assert [p.kind for p in problems] == ["anchor"]
    assert "without a retention_purge record" in problems[0].message


def test_unknown_kinds_in_the_policy_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown event kinds: logins"):
        RetentionPolicy(per_kind={"logins": 30})
    with pytest.raises(ConfigError, match="at least 1 day"):
        RetentionPolicy(default_days=0)


def test_purge_cli_is_audited(tmp_path: Path) -> None:
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_AUDIT_RETENTION_DAYS": "{}"}
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "keygen"], env=env).exit_code == 0
    result = runner.invoke(cli, ["audit", "purge", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert '"records_dropped": 0' in result.output
    exported = runner.invoke(cli, ["audit", "export", "--event", "retention_purge"], env=env)
    assert exported.stdout.count('"kind": "retention_purge"') == 1
    bad = runner.invoke(
        cli, ["audit", "purge", "--yes"], env={**env, "ASSISTANT_AUDIT_RETENTION_DAYS": '{"x": 1}'}
    )
    assert bad.exit_code == 1 and "unknown event kinds: x" in bad.output
