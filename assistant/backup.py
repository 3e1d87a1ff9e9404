"""``assistant backup DIR`` and ``assistant restore DIR``: a consistent copy, taken live.

What is copied, relative to DATA_DIR, and in this order, so that every piece is at least
as new as the one before it and the restored whole is one the product can open:

1. the audit checkpoints (signed Merkle roots): before the chain, so none names a record
   the copied chain lacks;
2. the FAISS files with the store generation each was saved at: before the store, so a
   restored index is never ahead of its store (one behind is rebuilt from the store at
   the first start, as after a crash: assistant/store/recovery.py);
3. the SQLite databases through SQLite's online backup API -- a consistent snapshot of
   each while the server goes on writing: the audit chain, then its payload store (a
   record's texts are written before the record), the accounts, and the document store;
4. the drop folders (the documents themselves: without them the watcher would erase what
   is missing) and the quarantine;
5. the settings file in force (``ASSISTANT_CONFIG`` or ./assistant.toml), if any, and the
   audit public key. The private signing key only with ``include_key``.

``manifest.json`` lists every file with its size and SHA-256 (of its plain bytes). With a
key file, every file is encrypted (AES-256-GCM in 1 MiB frames, the key derived from the
key file's bytes with scrypt and a random salt; each frame bound to its file, position
and finality, so frames cannot be swapped, dropped or cut off) and the manifest says so.
``restore`` checks every hash before it writes anything, into an empty DATA_DIR only
(unless forced), and leaves the model weights alone: they come from the catalogue.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import __version__
from assistant.errors import AssistantError
from assistant.settings import DEFAULT_TOML, Settings

MANIFEST = "manifest.json"
FORMAT = 1
FRAME = 1 << 20
#: The databases, in the order they are copied (see the module's docstring).
DATABASES = ("audit/chain.sqlite", "audit/payloads.sqlite", "auth.sqlite", "index/chunks.sqlite")


class BackupError(AssistantError):
    code = "backup"
    status_code = 400


@dataclass
class BackupReport:
    folder: Path
    files: int = 0
    bytes: int = 0
    encrypted: bool = False
    includes_key: bool = False
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(FRAME), b""):
            digest.update(block)
    return digest.hexdigest()


# -- encryption ----------------------------------------------------------------------
def _key(key_file: Path, salt: bytes) -> bytes:
    secret = key_file.read_bytes()
    if len(secret) < 16:
        raise BackupError(f"the key file {key_file} holds fewer than 16 bytes: too weak a key")
    return hashlib.scrypt(secret, salt=salt, n=2**14, r=8, p=1, dklen=32)


def _aad(name: str, index: int, last: bool) -> bytes:
    return f"{name}\x00{index}\x00{int(last)}".encode()


def _encrypt(src: Path, dst: Path, key: bytes, name: str) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, prefix = AESGCM(key), os.urandom(8)
    with src.open("rb") as fin, dst.open("wb") as fout:
        fout.write(prefix)
        index, block = 0, fin.read(FRAME)
        while True:
            following = fin.read(FRAME)
            last = not following
            sealed = aead.encrypt(prefix + struct.pack(">I", index), block, _aad(name, index, last))
            fout.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return
            index, block = index + 1, following


def _decrypt(src: Path, dst: Path, key: bytes, name: str) -> None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    with src.open("rb") as fin, dst.open("wb") as fout:
        prefix, index = fin.read(8), 0
        while True:
            head = fin.read(4)
            if len(head) < 4:
                raise BackupError(f"{name}: the encrypted file is cut short")
            sealed = fin.read(struct.unpack(">I", head)[0])
            last = fin.peek(1) == b""  # nothing after this frame: it must say it is last
            try:
                fout.write(
                    aead.decrypt(prefix + struct.pack(">I", index), sealed, _aad(name, index, last))
                )
            except InvalidTag as exc:
                raise BackupError(
                    f"{name}: cannot decrypt (a wrong key, or the file was changed)"
                ) from exc
            if last:
                return
            index += 1


# -- backup --------------------------------------------------------------------------
def _sources(settings: Settings, include_key: bool) -> Iterator[tuple[str, Path, bool]]:
    """(name in the backup, source, is a SQLite database), in the order to copy them."""
    data = settings.data_dir
    checkpoints = settings.audit_checkpoint_copy
    if checkpoints.is_dir():
        for path in sorted(checkpoints.glob("*.json")):
            yield f"audit-checkpoints/{path.name}", path, False
    for path in sorted(settings.index_dir.glob("*.faiss*")):
        if path.is_file() and not path.name.endswith(".tmp"):
            yield f"index/{path.name}", path, False
    for name in DATABASES:
        yield name, data / name, True
    for folder in (settings.inbox_dir, settings.quarantine_dir):
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                yield f"{folder.name}/{path.relative_to(folder).as_posix()}", path, False
    config = Path(os.environ.get("ASSISTANT_CONFIG") or DEFAULT_TOML)
    if config.is_file():
        yield "config/assistant.toml", config, False
    yield "keys/audit-ed25519.key.pub", settings.audit_public_key_file, False
    if include_key:
        yield "keys/audit-ed25519.key", settings.audit_key_file, False


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent snapshot of a live database (SQLite's online backup API)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target, pages=4096, sleep=0.01)  # yields to writers between steps
        finally:
            target.close()
    finally:
        source.close()


def backup(
    settings: Settings,
    folder: Path,
    *,
    include_key: bool = False,
    key_file: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackupReport:
    """Copy what DATA_DIR holds (but the models) into the new or empty ``folder``."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder")
    if include_key and not settings.audit_key_file.is_file():
        raise BackupError(f"no signing key at {settings.audit_key_file} to include")
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    salt = os.urandom(16)
    key = _key(key_file, salt) if key_file is not None else None
    report = BackupReport(folder, encrypted=key is not None, includes_key=include_key)
    files: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for name, source, database in _sources(settings, include_key):
            if not source.is_file():
                report.skipped.append(name)  # e.g. no account store yet
                continue
            if progress is not None:
                progress(name)
            plain = Path(tmp) / "plain"
            if database:
                _sqlite_copy(source, plain)
            else:
                shutil.copyfile(source, plain)
            target = folder / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            files[name] = {"sha256": _sha256(plain), "size": plain.stat().st_size}
            if key is not None:
                _encrypt(plain, target, key, name)
                plain.unlink()
            else:
                plain.replace(target)
            report.files += 1
            report.bytes += files[name]["size"]
    manifest = {
        "format": FORMAT,
        "assistant": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encrypted": {"cipher": "AES-256-GCM", "kdf": "scrypt", "salt": salt.hex()}
        if key is not None
        else None,
        "includes_signing_key": include_key,
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), "utf-8")
    report.seconds = time.monotonic() - started
    return report


# -- restore -------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} holds no readable {MANIFEST}: not a backup?") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    return dict(manifest)


def restore(
    settings: Settings,
    folder: Path,
    *,
    key_file: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Put the backup in ``folder`` into DATA_DIR; the number of files. Every file is
    decrypted and checked against the manifest before anything in DATA_DIR changes."""
    manifest = read_manifest(folder)
    crypt = manifest.get("encrypted")
    if crypt and key_file is None:
        raise BackupError("the backup is encrypted: give its key file (--key-file)")
    key = _key(key_file, bytes.fromhex(crypt["salt"])) if crypt and key_file else None
    data = settings.data_dir
    if not force and (data / "index" / "chunks.sqlite").exists():
        raise BackupError(f"{data} already holds an index: restore into an empty DATA_DIR")
    data.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))  # same file system: moves
    try:
        for name, meta in sorted(manifest["files"].items()):
            if progress is not None:
                progress(name)
            stored, plain = folder / "files" / name, staged / name
            if ".." in Path(name).parts or not stored.is_file():
                raise BackupError(f"{name}: missing from the backup")
            plain.parent.mkdir(parents=True, exist_ok=True)
            if key is not None:
                _decrypt(stored, plain, key, name)
            else:
                shutil.copyfile(stored, plain)
            if _sha256(plain) != meta["sha256"]:
                raise BackupError(f"{name}: its SHA-256 is not the manifest's (changed or damaged)")
        destinations = {"config/assistant.toml": data / "restored-assistant.toml"}
        keys = {
            "keys/audit-ed25519.key.pub": settings.audit_public_key_file,
            "keys/audit-ed25519.key": settings.audit_key_file,
        }
        for name in manifest["files"]:
            target = destinations.get(name) or keys.get(name) or data / name
            if name.startswith("audit-checkpoints/"):
                target = settings.audit_checkpoint_copy / Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm"):  # a live database's journal must not outlive it
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.move(staged / name, target)
            if name == "keys/audit-ed25519.key":
                target.chmod(0o600)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return len(manifest["files"])
