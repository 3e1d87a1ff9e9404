"""The Ed25519 key pair that signs checkpoints.

The private key is a PEM file of its own, at a path that is a setting. It is
read only inside ``sign()`` and dropped right after, so a deployment can give
it to a separate signer account (a timer running ``assistant audit
checkpoint``) that the web process cannot read; the web process then simply
leaves checkpoints to that signer. A key readable by group or others is
refused, like ssh does. The public key is all ``verify`` needs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from assistant.errors import AuditKeyError

PRIVATE_MODE = 0o600


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short stable name for a key: the SHA-256 of its raw 32 bytes, 16 hex digits."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def generate(private_path: Path, public_path: Path, *, force: bool = False) -> str:
    """Create a key pair: the private file 0600 from its first byte, the public one 0644."""
    if not force and (private_path.exists() or public_path.exists()):
        raise AuditKeyError(
            f"an audit key already exists at {private_path}",
            hint="keep it (old checkpoints need its public half) or pass --force",
        )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(private_path, pem, PRIVATE_MODE)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(public_path, pub, 0o644)
    return key_id(key.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have narrowed it; never widen the private key
    os.replace(tmp, path)


def sign(private_path: Path, message: bytes) -> tuple[bytes, str]:
    """Sign with the key file, read now and not kept. Returns (signature, key id)."""
    try:
        info = private_path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuditKeyError(
                f"the audit signing key {private_path} is readable by others",
                hint=f"chmod 600 {private_path}",
            )
        pem = private_path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit signing key at {private_path}", hint="run `assistant audit keygen`"
        ) from None
    except PermissionError:
        raise AuditKeyError(f"this process may not read the audit key {private_path}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{private_path} is not an unencrypted PEM key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{private_path} is not an Ed25519 key")
    return key.sign(message), key_id(key.public_key())


def load_public(public_path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(public_path.read_bytes())
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit public key at {public_path}", hint="run `assistant audit keygen`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{public_path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{public_path} is not an Ed25519 public key")
    return key


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
