"""Signed checkpoints: (tree size, Merkle root, time), signed with Ed25519.

The signed text follows the C2SP "tlog-checkpoint" note layout (origin line,
tree size, base64 root, then one extension line for the time), so the
statement is readable and unambiguous. Every checkpoint is also written, one
file each, to a second directory that is a setting -- ideally another disk or
host -- because a copy that lives only beside the log can be deleted along
with the tail it protects. ``verify`` reads both places.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from assistant.audit.keys import signature_valid
from assistant.audit.records import canonical
from assistant.errors import AuditError

ORIGIN_PREFIX = "assistant-audit/"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root: str  # hex
    timestamp: str
    key_id: str
    signature: str  # base64

    @staticmethod
    def statement(origin: str, tree_size: int, root: str, timestamp: str) -> bytes:
        """The exact bytes that are signed."""
        b64 = base64.b64encode(bytes.fromhex(root)).decode("ascii")
        return f"{origin}\n{tree_size}\n{b64}\ntime {timestamp}\n".encode()

    def signed_bytes(self) -> bytes:
        return self.statement(self.origin, self.tree_size, self.root, self.timestamp)

    def valid_for(self, key: Ed25519PublicKey) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        return signature_valid(key, signature, self.signed_bytes())

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": self.root,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    def to_bytes(self) -> bytes:
        return canonical(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Checkpoint:
        if not isinstance(obj, dict):
            raise AuditError("a checkpoint is a JSON object")
        try:
            cp = cls(
                origin=str(obj["origin"]),
                tree_size=int(obj["tree_size"]),
                root=str(obj["root"]),
                timestamp=str(obj["timestamp"]),
                key_id=str(obj["key_id"]),
                signature=str(obj["signature"]),
            )
            bytes.fromhex(cp.root)
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"malformed checkpoint: {exc}") from exc
        return cp

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        try:
            return cls.from_dict(json.loads(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AuditError(f"checkpoint is not JSON: {exc}") from exc


def copy_name(tree_size: int) -> str:
    return f"checkpoint-{tree_size:012d}.json"


def write_copy(copy_dir: Path, cp: Checkpoint) -> Path:
    """Write ``cp`` durably into ``copy_dir`` (temp file, fsync, rename)."""
    copy_dir.mkdir(parents=True, exist_ok=True)
    dest = copy_dir / copy_name(cp.tree_size)
    tmp = dest.with_name(dest.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(cp.to_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    dir_fd = os.open(copy_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return dest


def read_copies(copy_dir: Path) -> tuple[dict[int, Checkpoint], list[str]]:
    """Every checkpoint file in ``copy_dir`` by tree size, and the files that did not parse."""
    found: dict[int, Checkpoint] = {}
    bad: list[str] = []
    if not copy_dir.is_dir():
        return found, bad
    for path in sorted(copy_dir.glob("checkpoint-*.json")):
        try:
            cp = Checkpoint.from_bytes(path.read_bytes())
        except (AuditError, OSError) as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        if path.name != copy_name(cp.tree_size):
            bad.append(f"{path.name}: holds the checkpoint for tree size {cp.tree_size}")
            continue
        found[cp.tree_size] = cp
    return found, bad
