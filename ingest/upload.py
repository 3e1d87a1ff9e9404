"""Files uploaded in the admin page: checked, placed in the collection's drop folder, and
ingested there by the same pipeline as a dropped file, with a report per file as it goes.

A file larger than ``max_file_mb`` or empty is refused before anything is written. A name
is reduced to a safe base name (no folders, no control characters, no leading dot) and
never overwrites: a second ``policy.pdf`` becomes ``policy-1.pdf``. The type is judged by
the pipeline from the content, as for any dropped file, so an unsupported or damaged file
ends in the quarantine with its reason, which the page shows. Once in the drop folder a
file is like any other: a watcher sees it, ``assistant forget`` removes it.
"""

from __future__ import annotations

import queue
import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.pipeline import Ingestor
from ingest.quarantine import Quarantine

#: A collection is a folder name: letters, digits, "-" and "_".
COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_UNSAFE = re.compile(r"[^\w.\- ()]+")


@dataclass(frozen=True, slots=True)
class Received:
    name: str  # as sent
    path: Path | None  # where it was placed; None: refused
    size: int
    refused: str | None = None


def safe_name(name: str) -> str:
    """The base name of ``name``, safe to create in a folder."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(
        c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C"
    )
    base = _UNSAFE.sub("_", base).strip(" .")[:200]
    return base or "upload"


def _free(folder: Path, name: str) -> Path:
    path = folder / name
    stem, suffix = path.stem, path.suffix
    n = 1
    while path.exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def receive(folder: Path, name: str, data: bytes, *, max_bytes: int) -> Received:
    """Place one uploaded file in ``folder``, or refuse it with the reason."""
    if not data:
        return Received(name, None, 0, "the file is empty")
    if len(data) > max_bytes:
        return Received(
            name, None, len(data), f"larger than the {max_bytes // 2**20} MB limit for a file"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = _free(folder.resolve(), safe_name(name))
    tmp = path.with_name(f".{path.name}.part")  # the watcher skips hidden files
    tmp.write_bytes(data)
    tmp.replace(path)
    return Received(name, path, len(data))


def ingest_received(
    ingestor: Ingestor, quarantine: Quarantine, files: Sequence[Received], collection: str
) -> Iterator[dict[str, Any]]:
    """Ingest the placed files, yielding one event per file as its outcome is known."""
    for f in files:
        if f.refused is not None:
            yield {"file": f.name, "state": "refused", "reason": f.refused, "size": f.size}
    placed = [f for f in files if f.path is not None]
    names = {str(f.path): f for f in placed}
    events: queue.Queue[Any] = queue.Queue()

    def progress(path: Path, outcome: str, chunks: int) -> None:
        events.put((str(path), outcome, chunks))

    def work() -> None:
        try:
            ingestor.ingest_files([(f.path, collection) for f in placed if f.path], progress)
        except Exception as exc:  # the pipeline's own failure: said, never silent
            events.put(exc)
        finally:
            events.put(None)

    threading.Thread(target=work, name="upload-ingest", daemon=True).start()
    while (item := events.get()) is not None:
        if isinstance(item, Exception):
            yield {"file": None, "state": "failed", "reason": f"{type(item).__name__}: {item}"}
            continue
        path, outcome, chunks = item
        sent = names.get(path)
        event: dict[str, Any] = {
            "file": sent.name if sent else Path(path).name,
            "stored_as": Path(path).name,
            "state": outcome,
            "chunks": chunks,
        }
        if outcome == "quarantined":
            entry = next((q for q in quarantine.entries() if q.path == path), None)
            if entry is not None:
                event["reason"] = f"{entry.code}: {entry.message}"
        yield event
