"""What an ingest run reports, and how files are found and identified.

Small helpers shared by the pipeline, the watcher and the CLI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.domain import Chunk
from assistant.errors import IngestError
from ingest.quarantine import Quarantined


@dataclass(slots=True)
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, int | float]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "duplicates": len(self.duplicates),
            "skipped": len(self.skipped),
            "removed": len(self.removed),
            "quarantined": len(self.quarantined),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 2),
        }


def is_ignored(name: str) -> bool:
    """Hidden files and office lock files (``~$report.docx``) are not documents."""
    return name.startswith((".", "~$"))


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under ``paths`` (recursively), hidden files and folders left out, in stable order."""
    found: list[Path] = []
    for p in paths:
        p = p.resolve()
        if p.is_dir():
            found.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(is_ignored(part) for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            found.append(p)
        else:
            raise IngestError(f"no such file or directory: {p}")
    return found


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the section title gives a short chunk its context."""
    if chunk.section and not chunk.text.startswith(chunk.section):
        return f"{chunk.section}\n{chunk.text}"
    return chunk.text


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
