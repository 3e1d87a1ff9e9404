"""An interrupted eval keeps its answers: the journal, and the run that goes on from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from assistant.errors import ModelCrashed
from assistant.eval.dataset import EvalItem
from assistant.eval.journal import AnswerJournal, answer_code, code_version
from assistant.eval.runner import run_eval
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings

ITEMS = [
    EvalItem("hotel night refunded", ["150 EUR"], ["hotels.txt"]),
    EvalItem("rail journeys", ["rail"], ["trains.txt"]),
    EvalItem("How much is a hotel night refunded?", [], []),
]


class Counting:
    """Answers every question the same way and counts the questions it was asked."""

    name = "counting"

    def __init__(self) -> None:
        self.asked = 0

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.asked += "warm-up" not in messages[-1]["content"]  # warm_up's call aside
        yield from ("A hotel ", "night is refunded ", "up to 150 EUR [1].")


def _run(settings: Settings, corpus: Path, journal: AnswerJournal) -> tuple[int, dict]:
    generator = Counting()
    res = Resources(settings, embedder=HashEmbedder(), generator=generator)
    try:
        res.ingestor.ingest([corpus], "eval")
        report = run_eval(res, ITEMS, dataset="tiny", keep_samples=True, journal=journal)
    finally:
        res.close()
    assert report.answers is not None
    return generator.asked, {"answers": report.answers, "samples": report.samples}


def test_a_run_started_again_answers_only_the_questions_left(
    settings: Settings, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hotels.txt").write_text("A hotel night is refunded up to 150 EUR.\n", "utf-8")
    (corpus / "trains.txt").write_text("Rail is preferred for journeys under 500 km.\n", "utf-8")
    fingerprint = {"code": "abc", "settings": {"max_tokens": 64}}
    root = tmp_path / "answers"
    first_journal = AnswerJournal.for_run(root, "tiny", "draft → model", "compact", fingerprint)
    asked, first = _run(settings, corpus, first_journal)
    assert asked >= 2 and len(first_journal) == 3
    path = first_journal.path
    assert path.parent == root / "tiny" and " " not in path.name

    # killed while writing the third answer: that line is cut short
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20], encoding="utf-8")
    again = AnswerJournal.for_run(root, "tiny", "draft → model", "compact", fingerprint)
    assert len(again) == 2
    asked, second = _run(settings, corpus, again)
    assert asked <= 1  # only the third question (the gate may stop it before the model)
    assert second["answers"].accuracy == first["answers"].accuracy
    assert [s["answer"] for s in second["samples"]] == [s["answer"] for s in first["samples"]]
    assert len(path.read_text(encoding="utf-8").splitlines()) == 4  # header + 3, no junk

    # the same run under other code: the old answers are set aside, not mixed in
    other = AnswerJournal.for_run(root, "tiny", "draft → model", "compact", {"code": "def"})
    assert len(other) == 0 and other.stale is not None and other.stale.exists()
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0]) == {
        "fingerprint": {"code": "def"}
    }
    fresh = AnswerJournal.for_run(root, "tiny", "draft → model", "compact", {"code": "def"})
    fresh.add("1\tq", {"answer": "x"})
    assert len(AnswerJournal.for_run(root, "tiny", "draft → model", "compact", {"code": "def"}))
    dropped = AnswerJournal.for_run(
        root, "tiny", "draft → model", "compact", {"code": "def"}, fresh=True
    )
    assert len(dropped) == 0


def test_the_code_version_is_the_checkout_commit(tmp_path: Path) -> None:
    version = code_version()
    assert len(version.removesuffix("-dirty")) == 40 or version.startswith("assistant ")
    assert code_version(tmp_path) in {"unknown"} or code_version(tmp_path).startswith("assistant")


def test_the_answer_code_changes_with_answering_code_not_with_presentation(
    tmp_path: Path,
) -> None:
    import shutil

    package = tmp_path / "assistant"
    shutil.copytree(Path(answer_code.__code__.co_filename).parents[1], package)
    before = answer_code(package)
    assert before == answer_code(package)  # a hash of content, stable
    (package / "server" / "app.py").write_text("# a page changed\n", encoding="utf-8")
    (package / "eval" / "docs.py").write_text("# the doc's layout changed\n", encoding="utf-8")
    assert answer_code(package) == before
    prompt = package / "answering" / "prompt.py"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert answer_code(package) != before


class CrashesOnce(Counting):
    """Its first real question fails as a crashed worker's would; then it answers."""

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        if "warm-up" not in messages[-1]["content"] and not self.asked:
            self.asked += 1
            raise ModelCrashed("the model process died while answering")
        yield from super().stream(messages, max_tokens=max_tokens, cancel=cancel)


def test_an_answer_whose_model_crashed_is_asked_again(settings: Settings, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hotels.txt").write_text("A hotel night is refunded up to 150 EUR.\n", "utf-8")
    generator = CrashesOnce()
    res = Resources(settings, embedder=HashEmbedder(), generator=generator)
    try:
        res.ingestor.ingest([corpus], "eval")
        report = run_eval(res, ITEMS[:1], dataset="tiny", keep_samples=True)
    finally:
        res.close()
    assert report.answers is not None and report.answers.accuracy == 1.0
    assert generator.asked == 2  # the crash, then the answer
