"""Quarantine: one JSON file per refused path under ``data/quarantine/``, with the reason.

Files are referenced, not moved: the inbox is the source of truth, and moving
a file out of it would look like a deletion. Each entry keeps the file's size
and mtime when it was refused, so an unchanged file is not parsed again on
every scan, while a fixed file (new bytes, new mtime) is retried and, once
ingested, its entry cleared.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from assistant.domain import sha256_hex, utcnow


@dataclass(frozen=True, slots=True)
class Quarantined:
    path: str
    code: str
    message: str
    sha256: str
    at: str
    error: str = "IngestError"  # the error class
    hint: str | None = None
    collection: str = ""
    size: int = 0
    mtime_ns: int = 0


class Quarantine:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, path: str) -> Path:
        return self.folder / f"{sha256_hex(path)[:32]}.json"

    def put(
        self,
        path: str,
        *,
        code: str,
        error: str,
        message: str,
        sha256: str,
        hint: str | None = None,
        collection: str = "",
        size: int = 0,
        mtime_ns: int = 0,
    ) -> Quarantined:
        entry = Quarantined(
            path=path,
            code=code,
            message=message,
            sha256=sha256,
            at=utcnow().isoformat(),
            error=error,
            hint=hint,
            collection=collection,
            size=size,
            mtime_ns=mtime_ns,
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._file(path)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(entry), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, target)
        return entry

    def get(self, path: str) -> Quarantined | None:
        return self._read(self._file(path))

    def is_current(self, path: str, size: int, mtime_ns: int) -> bool:
        """True when ``path`` was refused and has not changed since."""
        entry = self.get(path)
        return entry is not None and (entry.size, entry.mtime_ns) == (size, mtime_ns)

    def clear(self, path: str) -> bool:
        try:
            self._file(path).unlink()
            return True
        except FileNotFoundError:
            return False

    def clear_sha256(self, sha256: str) -> int:
        """Drop every entry of these bytes (part of an erasure)."""
        gone = [e for e in self.entries() if e.sha256 == sha256]
        for e in gone:
            self.clear(e.path)
        return len(gone)

    def entries(self) -> list[Quarantined]:
        if not self.folder.is_dir():
            return []
        found = (self._read(p) for p in sorted(self.folder.glob("*.json")))
        return sorted((e for e in found if e is not None), key=lambda e: e.path)

    @staticmethod
    def _read(file: Path) -> Quarantined | None:
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        known = {f.name for f in fields(Quarantined)}
        try:
            return Quarantined(**{k: v for k, v in raw.items() if k in known})
        except TypeError:  # an old or foreign file: skip it rather than fail the listing
            return None
