"""``assistant backup`` while the server's resources are open and answering, then
``assistant restore`` into an empty folder: the audit log verifies and the same questions
get the same answers. Encrypted backups need their key; a changed file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.answering.generator import EchoGenerator
from assistant.audit.keys import generate
from assistant.backup import BackupError, backup, read_manifest, restore
from assistant.cli.main import cli
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.conftest import MODELS, SAMPLE

QUESTIONS = (
    "How many days of paid annual leave do full-time employees get?",
    "How much hotel cost per night is reimbursed in capital cities?",
)


def _answers(res: Resources) -> list[tuple[str, list[str]]]:
    out = []
    for q in QUESTIONS:
        a = res.answers.answer(q, user="alice")
        out.append((a.answer, [c.chunk_id for c in a.citations]))
    return out


def _open(settings: Settings, *, keygen: bool = True) -> Resources:
    if keygen and not settings.audit_key_file.exists():  # `assistant audit keygen`
        generate(settings.audit_key_file, settings.audit_public_key_file)
    return Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())


def _elsewhere(settings: Settings, root: Path) -> Settings:
    return settings.model_copy(update={"data_dir": root})


def test_a_live_backup_restores_to_the_same_answers_and_a_verified_log(
    settings: Settings, tmp_path: Path
) -> None:
    live = _open(settings)
    try:
        inbox = settings.inbox_dir / "sample"
        inbox.mkdir(parents=True)
        for f in SAMPLE.iterdir():
            if f.is_file() and f.suffix != ".py":
                (inbox / f.name).write_bytes(f.read_bytes())
        live.ingestor.ingest([inbox], "sample")
        live.audit.checkpoint()
        before = _answers(live)  # the server goes on: its files are open, its WAL live
        report = backup(settings, tmp_path / "copy")
        assert report.files >= 8 and not report.encrypted and not report.includes_key
    finally:
        live.close()
    manifest = read_manifest(tmp_path / "copy")
    names = set(manifest["files"])
    assert {"index/chunks.sqlite", "audit/chain.sqlite", "audit/payloads.sqlite"} <= names
    assert any(n.startswith("inbox/sample/") for n in names)
    assert any(n.startswith("audit-checkpoints/") for n in names)
    assert "keys/audit-ed25519.key" not in names  # only when asked

    restored = _elsewhere(settings, tmp_path / "restored")
    assert restore(restored, tmp_path / "copy") == len(names)
    again = _open(restored, keygen=False)  # the restored public key verifies the log
    try:
        assert again.audit.verify().ok
        assert _answers(again) == before
        assert again.store.counts() == _open_counts(settings)
    finally:
        again.close()
    with pytest.raises(BackupError, match="already holds an index"):
        restore(restored, tmp_path / "copy")


def _said(output: str) -> str:
    """The console's words, whatever its line wrapping."""
    return " ".join(output.split())


def _open_counts(settings: Settings) -> dict[str, int]:
    res = _open(settings)
    try:
        return dict(res.store.counts())
    finally:
        res.close()


def test_an_encrypted_backup_needs_its_key_and_refuses_a_changed_file(
    settings: Settings, tmp_path: Path
) -> None:
    res = _open(settings)
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        res.audit.checkpoint()
    finally:
        res.close()
    key = tmp_path / "backup.key"
    key.write_bytes(b"correct horse battery staple, long enough")
    env = {"ASSISTANT_DATA_DIR": str(settings.data_dir), "ASSISTANT_MODELS_DIR": str(MODELS)}
    copy = tmp_path / "copy"
    done = CliRunner().invoke(
        cli, ["backup", str(copy), "--include-key", "--key-file", str(key)], env=env
    )
    assert done.exit_code == 0, done.output
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["encrypted"]["cipher"] == "AES-256-GCM" and manifest["includes_signing_key"]
    store = (copy / "files" / "index" / "chunks.sqlite").read_bytes()
    assert b"SQLite format 3" not in store and b"annual leave" not in store  # ciphertext

    target = {**env, "ASSISTANT_DATA_DIR": str(tmp_path / "restored")}
    no_key = CliRunner().invoke(cli, ["restore", str(copy)], env=target)
    assert no_key.exit_code != 0 and "encrypted" in _said(no_key.output)
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(b"not the key that was used, at all")
    bad = CliRunner().invoke(cli, ["restore", str(copy), "--key-file", str(wrong)], env=target)
    assert bad.exit_code != 0 and "cannot decrypt" in _said(bad.output)
    assert not (tmp_path / "restored" / "index" / "chunks.sqlite").exists()  # nothing written

    ok = CliRunner().invoke(cli, ["restore", str(copy), "--key-file", str(key)], env=target)
    assert ok.exit_code == 0, ok.output
    assert "the audit log verifies" in _said(ok.output)
    restored_key = tmp_path / "restored" / "keys" / "audit-ed25519.key"
    assert restored_key.read_bytes() == settings.audit_key_file.read_bytes()
    assert oct(restored_key.stat().st_mode & 0o777) == "0o600"

    # a frame cut off the end of a file, or a changed byte, is refused before any write
    victim = copy / "files" / "audit" / "chain.sqlite"
    victim.write_bytes(victim.read_bytes()[:-100])
    elsewhere = {**env, "ASSISTANT_DATA_DIR": str(tmp_path / "third")}
    cut = CliRunner().invoke(cli, ["restore", str(copy), "--key-file", str(key)], env=elsewhere)
    assert cut.exit_code != 0 and "audit/chain.sqlite" in _said(cut.output)
    assert not (tmp_path / "third" / "index" / "chunks.sqlite").exists()
