"""Eval datasets: JSON lines of ``{"question", "answers": [...], "gold": [...]}``.

``gold`` names what answers the question: a document path (absolute, relative
or just the file name), a file stem (a passage id such as ``p123``) or a
document id. An empty or missing ``gold`` marks a question the documents do
not answer: the assistant should refuse it. An optional ``kind`` string labels a
question's group (``data/eval/arabic.jsonl``: ``ar``, ``en-ar``, ``ar-en``,
``unanswerable``), so a set can also be scored per group; other fields are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from assistant.errors import DatasetError
from assistant.store.documents import Store


@dataclass(frozen=True, slots=True)
class EvalItem:
    question: str
    answers: list[str] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)
    kind: str = ""  # the question's group, when the dataset names one

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_dataset(path: Path) -> list[EvalItem]:
    """Read and check every line; a bad line is an error naming its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read eval dataset {path}: {exc}") from exc
    items: list[EvalItem] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{n}: not JSON: {exc}") from exc
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise DatasetError(f'{path}:{n}: each line needs a "question" string')
        answers, gold = row.get("answers", []), row.get("gold", [])
        for name, value in (("answers", answers), ("gold", gold)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DatasetError(f'{path}:{n}: "{name}" must be a list of strings')
        if not row["question"].strip():
            raise DatasetError(f"{path}:{n}: the question is empty")
        kind = row.get("kind", "")
        if not isinstance(kind, str):
            raise DatasetError(f'{path}:{n}: "kind" must be a string')
        items.append(EvalItem(row["question"].strip(), list(answers), list(gold), kind))
    if not items:
        raise DatasetError(f"{path} holds no questions")
    return items


class GoldResolver:
    """Maps gold names to the ids of documents in the store (every path a document has)."""

    def __init__(self, store: Store) -> None:
        self._keys: dict[str, set[str]] = {}
        self._paths: list[tuple[str, str]] = []
        for entry in store.path_entries():
            p = PurePath(entry.path)
            self._paths.append((entry.path, entry.doc_id))
            for key in (entry.path, p.name, p.stem, entry.doc_id):
                self._keys.setdefault(key, set()).add(entry.doc_id)

    def resolve(self, gold: list[str]) -> set[str]:
        """Document ids named by ``gold``; names that match nothing are left out."""
        found: set[str] = set()
        for g in gold:
            if g in self._keys:
                found |= self._keys[g]
            else:
                suffix = "/" + g.lstrip("/")
                found |= {doc for path, doc in self._paths if path.endswith(suffix)}
        return found


def spread(items: Sequence[EvalItem], n: int | None) -> list[EvalItem]:
    """``n`` items evenly spaced over the list (all when ``n`` is None or too large).

    Evenly spaced rather than the first ``n``: a dataset that lists its
    unanswerable questions last keeps its mix in a small sample.
    """
    if n is None or n >= len(items):
        return list(items)
    if n <= 0:
        return []
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]
