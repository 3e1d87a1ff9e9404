"""The committed eval sets (data/eval/*.jsonl) and the git-docs corpus copy (no models)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.eval import build
from assistant.eval.dataset import EvalItem, load_dataset

SETS = {  # dataset -> the installed manual its gold names
    build.POSTGRES_QUESTIONS: build.POSTGRES_HTML,
    build.GIT_QUESTIONS: build.GIT_DOC,
}


@pytest.mark.parametrize("dataset", list(SETS), ids=lambda p: p.name)
def test_every_row_parses_and_answerable_rows_come_first(dataset: Path) -> None:
    items = load_dataset(dataset)
    assert len({it.question for it in items}) == len(items), "a question is repeated"
    answerable = [it for it in items if it.answerable]
    assert len(answerable) >= 100
    for it in answerable:
        assert 1 <= len(it.answers) <= 3 and all(a.strip() for a in it.answers), it.question
        assert len(set(it.gold)) == len(it.gold), it.question
    first_unanswerable = next((n for n, it in enumerate(items) if not it.answerable), len(items))
    assert all(it.answerable for it in items[:first_unanswerable])
    assert not any(it.answerable for it in items[first_unanswerable:]), "kept together at the end"


@pytest.mark.parametrize("dataset", list(SETS), ids=lambda p: p.name)
def test_gold_pages_exist_in_the_installed_manual(dataset: Path) -> None:
    root = SETS[dataset]
    if not root.is_dir() or not any(root.glob("*.html")):
        pytest.skip(f"{root} is not installed")
    items: list[EvalItem] = load_dataset(dataset)
    pages = [p.relative_to(root) for p in root.rglob("*.html") if not p.is_symlink()]
    by_name: dict[str, list[Path]] = {}
    for p in pages:
        by_name.setdefault(p.name, []).append(p)
    for it in items:
        for g in it.gold:
            assert (root / g).is_file(), f"{g} ({it.question})"
            if "/" not in g:  # a bare file name is resolved by name: it must name one page
                assert len(by_name[g]) == 1, f"{g} names {by_name[g]}"


def test_git_docs_corpus_is_a_copy_of_the_html_pages_alone(tmp_path: Path) -> None:
    source = tmp_path / "git-doc"
    (source / "howto").mkdir(parents=True)
    (source / "git.html").write_text("<html><title>git(1)</title><p>git</p></html>")
    (source / "git.txt").write_text("git(1)\n======\n")  # the AsciiDoc source beside it
    (source / "config.txt").write_text("include fragment")
    (source / "howto" / "use-git-daemon.html").write_text("<p>daemon</p>")
    (source / "index.html").symlink_to("git.html")
    os.utime(source / "git.html", ns=(1_000_000_000, 1_000_000_000))

    es = build.git_docs_set(tmp_path / "work", source)
    copied = sorted(str(p.relative_to(es.corpus)) for p in es.corpus.rglob("*") if p.is_file())
    assert copied == ["git.html", "howto/use-git-daemon.html"]
    assert (es.corpus / "git.html").stat().st_mtime_ns == 1_000_000_000  # unchanged: skipped
    assert (es.name, es.dataset, es.parser) == ("git-docs", build.GIT_QUESTIONS, "html")

    (source / "howto" / "use-git-daemon.html").unlink()  # gone from the package
    (source / "git.html").write_text("<p>new</p>")
    build.git_docs_set(tmp_path / "work", source)
    assert not (es.corpus / "howto" / "use-git-daemon.html").exists()
    assert (es.corpus / "git.html").read_text() == "<p>new</p>"
