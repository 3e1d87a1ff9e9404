"""Build the standard eval sets and their indexes.

* HaluEval QA (``assistant.eval.halueval``): a fixed random subset (seed 0) of
  2,000 passages, the first 300 of their questions (gold: their own passage),
  and 100 unanswerable questions whose passages are the next 100 of the same
  draw -- held out of the index, so nothing indexed answers them. Passages are
  written as ``p<id>.txt`` files; the dataset is never committed.
* PostgreSQL docs: questions written for this project
  (``data/eval/postgres-docs.jsonl``) over Debian's ``postgresql-doc-15`` HTML.
* Git docs: questions written for this project (``data/eval/git-docs.jsonl``)
  over Debian's ``git-doc`` HTML manual. That folder also holds the AsciiDoc
  source of every page (``git-reset.txt`` beside ``git-reset.html``, plus
  include fragments such as ``config.txt``) and ``index.html``, a symlink to
  ``git.html``; so the set's corpus is a copy of the ``.html`` files alone
  (symlinks left out), made under the work folder with their relative paths
  (``howto/``, ``technical/``) and times kept, so a second build skips them.
  Gold names pages in those folders by relative path (``howto/use-git-daemon.html``):
  a bare name matches every page of that name (``scalar.html`` is two pages).
  The AsciiDoc-made HTML reads like the PostgreSQL pages (headings become
  section titles, option terms and their descriptions text), so ``HtmlParser``
  serves both unchanged.

Each corpus goes through the real Ingestor (hash, chunk, embed, SQLite + FTS5
+ FAISS commit) with the light parsers of ``assistant.eval.corpus``; a second
build skips unchanged files.

The Arabic set (``arabic_set``): questions written for this project
(``data/eval/arabic.jsonl``, each with its ``kind``: Arabic, cross-lingual either
way, unanswerable) over policy documents also written for it, in Arabic and
English, in ``data/eval/arabic/`` (Markdown); both are in the repository.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.eval import halueval
from assistant.eval.corpus import HtmlParser, MarkdownParser, PlainTextParser
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.pipeline import Ingestor, IngestReport, Parser

REPO = Path(__file__).resolve().parents[2]
POSTGRES_QUESTIONS = REPO / "data" / "eval" / "postgres-docs.jsonl"
POSTGRES_HTML = Path("/usr/share/doc/postgresql-doc-15/html")
GIT_QUESTIONS = REPO / "data" / "eval" / "git-docs.jsonl"
GIT_DOC = Path("/usr/share/doc/git-doc")


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    dataset: Path  # the JSONL of questions
    corpus: Path  # the folder to ingest
    parser: str  # "text", "html" or "markdown"


def build_halueval(
    out_dir: Path,
    cache_dir: Path,
    *,
    passages: int = 2000,
    questions: int = 300,
    unanswerable: int = 100,
    seed: int = 0,
) -> EvalSet:
    """Write the passage files and the question JSONL; returns the set."""
    items = halueval.load_qa(cache_dir)
    drawn = halueval.retrieval_set(
        items, passages=passages + unanswerable, queries=passages + unanswerable, seed=seed
    )
    indexed, held_out = drawn.passages[:passages], drawn.queries[passages:]
    corpus = out_dir / "passages"
    corpus.mkdir(parents=True, exist_ok=True)
    wanted = {f"{p.id}.txt" for p in indexed}
    for stale in corpus.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()  # a smaller draw than last time: the index must not keep extras
    for p in indexed:
        path = corpus / f"{p.id}.txt"
        text = p.text + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    rows = [
        {"question": q.item.question, "answers": [q.item.right_answer], "gold": [q.gold]}
        for q in drawn.queries[:questions]
    ] + [
        {"question": q.item.question, "answers": [q.item.right_answer], "gold": []}
        for q in held_out
    ]
    dataset = out_dir / "halueval.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return EvalSet("halueval", dataset, corpus, "text")


def postgres_set() -> EvalSet:
    return EvalSet("postgres-docs", POSTGRES_QUESTIONS, POSTGRES_HTML, "html")


def git_docs_set(out_dir: Path, source: Path = GIT_DOC) -> EvalSet:
    """Copy the manual's HTML pages (not its AsciiDoc sources) to ``out_dir/html``."""
    corpus = out_dir / "html"
    wanted = {
        f.relative_to(source) for f in source.rglob("*.html") if f.is_file() and not f.is_symlink()
    }
    if corpus.is_dir():
        for stale in corpus.rglob("*"):
            if stale.is_file() and stale.relative_to(corpus) not in wanted:
                stale.unlink()  # a page gone from the package must leave the index too
    for rel in sorted(wanted):
        src, dst = source / rel, corpus / rel
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)  # the modification time too: unchanged pages are skipped
    return EvalSet("git-docs", GIT_QUESTIONS, corpus, "html")


def parser_for(kind: str) -> Parser:
    if kind == "markdown":
        return MarkdownParser()
    return HtmlParser() if kind == "html" else PlainTextParser()


def ingest_corpus(
    settings: Settings,
    corpus: Path,
    parser: Parser,
    progress: Callable[[Path, str, int], None] | None = None,
) -> IngestReport:
    """Ingest ``corpus`` into ``settings.data_dir`` through the real Ingestor."""
    resources = Resources(settings)
    try:
        ingestor = Ingestor.from_settings(
            settings,
            resources.store,
            resources.index,
            resources.embedder,
            parser=parser,
            multilingual_index=resources.multilingual_index,  # both dense indexes
            multilingual_embedder=resources.multilingual_embedder,
        )
        try:
            report = ingestor.ingest([corpus], "eval", progress)
            if resources.multilingual_index is not None and resources.store.multilingual_missing():
                ingestor.fill_multilingual()  # an index built before the multilingual one
            return report
        finally:
            ingestor.close()
    finally:
        resources.close()


ARABIC_QUESTIONS = REPO / "data" / "eval" / "arabic.jsonl"
ARABIC_CORPUS = REPO / "data" / "eval" / "arabic"


def arabic_set() -> EvalSet:
    return EvalSet("arabic", ARABIC_QUESTIONS, ARABIC_CORPUS, "markdown")
