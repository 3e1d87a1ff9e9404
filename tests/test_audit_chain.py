"""The chain and its checkpoints: append, link, sign every N records or M minutes, verify."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.audit import AuditLog, EventKind
from assistant.audit.checkpoint import read_copies
from assistant.audit.merkle import verify_inclusion
from assistant.audit.records import GENESIS_HASH, canonical
from assistant.cli.main import cli
from assistant.errors import AuditError, AuditKeyError
from tests.audit_support import Clock, fill, make_log


def test_records_chain_and_checkpoints_round_trip(tmp_path: Path) -> None:
    log = make_log(tmp_path, every=5)
    recs = fill(log, 12)
    assert [r.seq for r in recs] == list(range(1, 13))
    assert recs[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(recs))
    assert all(r.hash == r.computed_hash() for r in recs)
    log.close()

    log = make_log(tmp_path, every=5)  # reopened: the chain continues where it stopped
    more = fill(log, 3)
    assert more[0].seq == 13 and more[0].prev_hash == recs[-1].hash
    copies, bad = read_copies(tmp_path / "copies")
    assert sorted(copies) == [5, 10, 15] and not bad
    report = log.verify()
    assert report.ok, report.problems
    assert (report.records, report.checkpoints, report.payloads) == (15, 3, 15)
    assert report.latest_checkpoint is not None and report.latest_checkpoint["tree_size"] == 15
    stored = list(log.records())
    assert [r.to_dict() for r in stored] == [r.to_dict() for r in recs + more]
    assert log.payload(stored[0]) == {"question": "question number 1?", "answer": "answer 1"}
    log.close()


def test_record_bytes_are_canonical_json(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rec = log.record("login", "bob", {"b": 1, "a": "é", "n": 0.5})
    body = canonical(rec.fields())
    assert body.startswith(b'{"actor":"bob","data":{"a":"\xc3\xa9","b":1,"n":0.5},"kind":"login"')
    with pytest.raises(AuditError, match="unknown audit event kind"):
        log.record("coffee_break", "bob")
    with pytest.raises(AuditError, match="canonical JSON"):
        log.record("login", "bob", {"too_big": 2**60})
    log.close()


def test_checkpoint_after_m_minutes_even_without_n_records(tmp_path: Path) -> None:
    clock = Clock()
    log = make_log(tmp_path, every=1000, minutes=5, clock=clock)
    log.record("login", "alice")
    assert log.checkpoint_if_due() is None  # neither 1000 records nor 5 minutes yet
    clock.advance(minutes=6)
    cp = log.checkpoint_if_due()  # what the ticker thread calls every minute
    assert cp is not None and cp.tree_size == 1
    clock.advance(minutes=1)
    log.record("logout", "alice")
    assert log.checkpoint_if_due() is None
    clock.advance(minutes=5)
    log.record("login", "alice")  # an append after M minutes signs right away
    assert log.verify().checkpoints == 2
    log.close()


def test_a_process_without_the_key_still_records(tmp_path: Path) -> None:
    log = make_log(tmp_path, every=2, keygen=False)
    fill(log, 5)  # checkpoints are due but cannot be signed: deferred, not failed
    with pytest.raises(AuditKeyError, match="no audit signing key"):
        log.checkpoint()
    report = log.verify()
    assert report.ok and report.records == 5 and report.checkpoints == 0
    assert any("no signed checkpoint" in w for w in report.warnings)
    log.close()


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.record("login", "alice")
    os.chmod(log.key_path, 0o644)
    with pytest.raises(AuditKeyError, match="readable by others"):
        log.checkpoint()
    log.close()


def test_triggers_refuse_updates_and_deletes(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    fill(log, 6)
    db = sqlite3.connect(log.chain.path)
    for sql in (
        "UPDATE records SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM records WHERE seq = 6",
        "DELETE FROM checkpoints",
    ):
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(sql)
    db.close()
    log.close()


def test_inclusion_proof_of_a_record(tmp_path: Path) -> None:
    log = make_log(tmp_path, every=7)
    recs = fill(log, 14)
    proof = log.prove(9)
    assert proof.checkpoint.tree_size == 14 and proof.leaf_hash == recs[8].hash
    path = [bytes.fromhex(p) for p in proof.path]
    root = bytes.fromhex(proof.checkpoint.root)
    assert verify_inclusion(bytes.fromhex(recs[8].hash), 8, 14, path, root)
    log.record("login", "bob")
    with pytest.raises(AuditError, match="not covered"):
        log.prove(15)
    log.close()


def test_concurrent_appends_keep_seq_gapless(tmp_path: Path) -> None:
    """Threads of one process, and a second process-like log on the same files."""
    first = make_log(tmp_path, every=10)
    second = make_log(tmp_path, every=10)
    errors: list[BaseException] = []

    def work(log: AuditLog, name: str) -> None:
        try:
            for i in range(25):
                log.record("login", name, {"i": i}, {"ip": f"10.0.0.{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(log, f"user{n}"))
        for n, log in enumerate([first, first, first, second, second])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [r.seq for r in first.records()]
    assert seqs == list(range(1, 126))
    report = first.verify()
    assert report.ok, report.problems
    assert report.checkpoints >= 10
    second.close()
    first.close()


def test_keygen_cli_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "keygen"], env=env)
    assert result.exit_code == 0, result.output
    key = tmp_path / "data" / "keys" / "audit-ed25519.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.with_name(key.name + ".pub").is_file()
    again = runner.invoke(cli, ["audit", "keygen"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output


def test_server_start_records_the_settings_without_secrets(tmp_path: Path) -> None:
    from litestar.testing import TestClient

    from assistant.answering.generator import EchoGenerator
    from assistant.models.embed import HashEmbedder
    from assistant.resources import Resources
    from assistant.server.app import create_app
    from assistant.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", top_k=5)
    res = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    with TestClient(create_app(settings, res, warm_up=False)):
        rec = next(res.audit.records(newest_first=True, limit=1))
        assert rec.kind == EventKind.SETTINGS_AT_STARTUP and rec.actor == "system"
        assert rec.data["settings"]["top_k"] == 5
        assert json.dumps(rec.data["settings"]).count("<redacted>") == sum(
            1 for k in rec.data["settings"] if "secret" in k or "token" in k or "password" in k
        )
    res.close()
