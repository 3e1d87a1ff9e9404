"""``make eval``: build the standard sets, run them, write docs/EVAL.md.

    python -m assistant.eval.standard [--work build/eval] [--doc docs/EVAL.md]
                                      [--models smollm2-135m qwen2.5-0.5b qwen2.5-1.5b]
                                      [--sample-models]
                                      [--answers-halueval N] [--unanswerable-halueval N]
                                      [--answers-postgres N] [--answers-git N]
                                      [--max-tokens 64]
                                      [--answers-arabic N] [--unanswerable-arabic N]
                                      [--draft-model qwen2.5-0.5b] [--retrieval-only]
                                      [--fresh]

Four sets: HaluEval QA, the PostgreSQL docs, the git docs (each docs set only
when its Debian package is installed; skipped with a message otherwise) and the
Arabic set (in the repository).
Retrieval runs on every question of every set (hybrid, BM25 and dense in one
pass). Answers run on every question too: 300 answerable and 100 unanswerable
HaluEval questions, all 129 PostgreSQL ones, all 165 answerable git ones,
answers capped at 64 tokens (one to three sentences, as the prompt asks), so
each share comes with a Wilson 95% interval over whole sets. The CPU is the
limit (a 1.5B model takes 5-10 s a question on this machine): with
``--sample-models`` only the configured default model answers every question and the others
answer evenly spread samples (``SAMPLES``: 40 answerable and 20 unanswerable
HaluEval questions, 24 PostgreSQL ones, 24 git ones). ``--answers-*`` N answers
an evenly spread N instead of every question (0: none). The default model also
answers the PostgreSQL questions (its ``SAMPLES`` share, with
``--sample-models``) with whole chunks instead of the compact context, so the two can be
compared where chunks are long (HaluEval's short passages fit the budget whole,
so compaction leaves them as they are).

With a draft model (``--draft-model`` or the ``draft_model`` setting) every model
still answers alone, and the chain ``draft → model`` (answering/router.py) answers
too, as one more row: its samples name the model that answered. The configured
default (the chain when ``draft_model`` is set) is the one that answers every
question under ``--sample-models``.

The Arabic set (``data/eval/arabic``, in the repository, so always run) is scored
whole like the others, and its retrieval also per kind of question
(``KIND_REPORTS``): "arabic (ar)", "arabic (en-ar)", "arabic (ar-en)" and
"arabic (cross-lingual)", on the same index (retrieval only: cheap). With
``--sample-models`` the other models answer 30 answerable and 10 unanswerable
Arabic questions.

Each answer is journaled under ``WORK/answers`` as it is known; started again after an
interruption with the same code and settings, the eval keeps those answers and goes on
from where it stopped (``--fresh``: answer everything again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import assistant.offline  # noqa: F401  (offline before any model library loads)
from assistant.eval import build, pii
from assistant.eval.dataset import EvalItem, load_dataset
from assistant.eval.docs import render_results, write_eval_doc
from assistant.eval.journal import AnswerJournal, answer_code, code_version
from assistant.eval.report import to_dict
from assistant.eval.runner import run_eval
from assistant.eval.scores import EvalReport
from assistant.models.catalog import CATALOG
from assistant.models.cpu import describe_cpu
from assistant.models.install import installed_path
from assistant.models.requant import served_hashes
from assistant.resources import Resources
from assistant.settings import Settings, load_settings

CANDIDATES = tuple(name for name, spec in CATALOG.items() if spec.kind == "llm")
#: (answerable, unanswerable) questions per set that models other than the default answer
#: with ``--sample-models`` (evenly spread); a set not named here is answered whole.
SAMPLES = {"halueval": (40, 20), "postgres-docs": (24, 0), "git-docs": (24, 0), "arabic": (30, 10)}
#: Retrieval reports on parts of a set, by the questions' ``kind``: report label -> kinds.
KIND_REPORTS = {
    "arabic": {
        "ar": ("ar",),
        "en-ar": ("en-ar",),
        "ar-en": ("ar-en",),
        "cross-lingual": ("en-ar", "ar-en"),
    }
}


def _log(message: str) -> None:
    print(f"[eval {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _progress(phase: str, done: int, total: int) -> None:
    if done == total or done % 25 == 0:
        _log(f"  {phase} {done}/{total}")


def answer_sizes(
    items: Sequence[EvalItem], sizes: tuple[int | None, int | None]
) -> tuple[int, int]:
    """(answerable, unanswerable) questions to answer, None being every one of that kind.

    Always both counts, so the two kinds are spread apart (``run_eval``'s stratified
    sample), and a sample at least as large as the set is the whole set (``spread``).
    """
    whole = (sum(i.answerable for i in items), sum(not i.answerable for i in items))
    n_ans, n_unans = (w if n is None else n for n, w in zip(sizes, whole, strict=True))
    return n_ans, n_unans


def by_kind(name: str, items: Sequence[EvalItem]) -> dict[str, list[EvalItem]]:
    """The parts of set ``name`` that ``KIND_REPORTS`` names, as "name (label)": items
    (a part with no questions left out)."""
    parts = {
        f"{name} ({label})": [i for i in items if i.kind in kinds]
        for label, kinds in KIND_REPORTS.get(name, {}).items()
    }
    return {label: part for label, part in parts.items() if part}


def _journal(
    args: argparse.Namespace, run: tuple[str, str, str], settings: Settings, sizes: tuple[int, int]
) -> AnswerJournal:
    """The journal of one answer run, (set, model, context): see ``journal``."""
    fingerprint = {
        "code": answer_code(),
        "sizes": sizes,
        "settings": settings.model_dump(mode="json"),
        "weights": served_hashes(settings.chat_models, settings.models_dir),  # requant.py
    }
    journal = AnswerJournal.for_run(args.work / "answers", *run, fingerprint, fresh=args.fresh)
    if journal.stale is not None:
        _log(f"{run[0]}: {journal.stale} is of other code or settings: set aside")
    elif len(journal):
        _log(f"{run[0]}: {len(journal)} answers kept from {journal.path}")
    return journal


def run(args: argparse.Namespace) -> dict[str, object]:
    base = load_settings()
    sets = [build.build_halueval(args.work / "halueval", args.cache_dir)]
    if build.POSTGRES_HTML.is_dir():
        sets.append(build.postgres_set())
    else:
        _log(f"{build.POSTGRES_HTML} missing (apt-get install postgresql-doc-15): set skipped")
    if (build.GIT_DOC / "git.html").is_file():  # the folder alone may hold only a copyright
        sets.append(build.git_docs_set(args.work / "git-docs"))
    else:
        _log(f"{build.GIT_DOC} missing (apt-get install git-doc): set skipped")
    sets.append(build.arabic_set())
    sample = {  # (answerable, unanswerable) questions answered per model; None: all
        "halueval": (args.answers_halueval, args.unanswerable_halueval),
        "postgres-docs": (args.answers_postgres, 0),
        "git-docs": (args.answers_git, 0),
        "arabic": (args.answers_arabic, args.unanswerable_arabic),
    }
    installed = {m for m in CATALOG if installed_path(CATALOG[m], base.models_dir).exists()}
    models = [m for m in args.models if m in installed]
    for missing in sorted(set(args.models) - set(models)):
        _log(f"model {missing} is not installed in {base.models_dir}: skipped")
    draft = args.draft_model or base.draft_model
    runs: list[tuple[str, str | None]] = [(m, None) for m in models]  # each model alone
    if draft and draft != base.model and {draft, base.model} <= installed:
        runs.append((base.model, draft))  # and the chain
    elif draft and draft != base.model:
        _log(f"the chain {draft} → {base.model} needs both installed: skipped")
    results: dict[str, object] = {
        "sets": {},
        "answers": [],
        "started": time.strftime("%F %T"),
        "code": code_version(),
        "cpu": describe_cpu(),
    }
    reports: dict[str, EvalReport] = {}
    answers: list[tuple[str, str, str, EvalReport]] = []  # (set, model, context, report)
    for es in sets:
        # each set has its own index; the verified models stay where they are installed
        settings = base.model_copy(
            update={
                "data_dir": args.work / es.name / "data",
                "models_dir_override": base.models_dir,
            }
        )
        _log(f"{es.name}: ingesting {es.corpus}")
        ingest = build.ingest_corpus(settings, es.corpus, build.parser_for(es.parser))
        _log(f"{es.name}: {ingest.summary()}")
        items = load_dataset(es.dataset)
        resources = Resources(settings)
        try:
            reports[es.name] = run_eval(
                resources, items, dataset=es.name, retrieval_only=True, progress=_progress
            )
            for part, part_items in by_kind(es.name, items).items():
                reports[part] = run_eval(resources, part_items, dataset=part, retrieval_only=True)
        finally:
            resources.close()
        if args.retrieval_only:
            continue
        for model, draft_model in runs:
            name = f"{draft_model} → {model}" if draft_model else model
            configured = (model, draft_model) == (base.model, base.draft_model)
            sizes = sample[es.name]
            if args.sample_models and not configured:
                sizes = SAMPLES.get(es.name, sizes)
            n_ans, n_unans = answer_sizes(items, sizes)
            compare = configured and es.name == "postgres-docs"
            contexts = [settings.context_tokens, 0] if compare else [settings.context_tokens]
            for ctx_tokens in contexts:
                label = "compact" if ctx_tokens else "whole chunks"
                if not ctx_tokens and args.sample_models:  # a comparison: its sample will do
                    n_ans, n_unans = answer_sizes(items, SAMPLES.get(es.name, sizes))
                _log(f"{es.name}: answers with {name}, {label}")
                run_settings = settings.model_copy(
                    update={
                        "model": model,
                        "draft_model": draft_model,
                        "context_tokens": ctx_tokens,
                        "max_tokens": args.max_tokens,
                    }
                )
                journal = _journal(args, (es.name, name, label), run_settings, (n_ans, n_unans))
                resources = Resources(run_settings)
                try:
                    report = run_eval(
                        resources,
                        items,
                        dataset=es.name,
                        answer_sample=n_ans,
                        unanswerable_sample=n_unans,
                        progress=_progress,
                        keep_samples=True,
                        journal=journal,
                    )
                finally:
                    resources.close()
                answers.append((es.name, name, label, report))
    results["sets"] = {k: to_dict(v) for k, v in reports.items()}
    results["answers"] = [
        {"set": s, "model": m, "context": c, **to_dict(r)} for s, m, c, r in answers
    ]
    results["pii"] = pii.measure()  # the redactor, on its own synthetic set (no model)
    results["finished"] = time.strftime("%F %T")
    default = f"{base.draft_model} → {base.model}" if base.draft_model else base.model
    results["default_model"] = default
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    write_eval_doc(args.doc, reports, answers, default_model=default, finished=results)
    _log(f"wrote {args.doc} and {args.work / 'results.json'}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.eval.standard", description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("build/eval"))
    parser.add_argument("--doc", type=Path, default=Path("docs/EVAL.md"))
    parser.add_argument(
        "--cache-dir", type=Path, default=Path.home() / ".cache" / "onprem-assistant-eval"
    )
    parser.add_argument("--models", nargs="*", default=list(CANDIDATES))
    every = "default: every question; N: N evenly spread (0: none)"
    parser.add_argument("--answers-halueval", type=int, default=None, help=every)
    parser.add_argument("--unanswerable-halueval", type=int, default=None, help=every)
    parser.add_argument("--answers-postgres", type=int, default=None, help=every)
    parser.add_argument("--answers-git", type=int, default=None, help=every)
    parser.add_argument("--answers-arabic", type=int, default=None, help=every)
    parser.add_argument("--unanswerable-arabic", type=int, default=None, help=every)
    parser.add_argument(
        "--sample-models",
        action="store_true",
        help="models other than the configured default answer evenly spread samples "
        f"(answerable, unanswerable per set: {SAMPLES})",
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--draft-model", default=None, help="also run the chain DRAFT → MODEL (default setting)"
    )
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="answer every question again, even those WORK/answers/ holds from an "
        "interrupted run of the same code and settings",
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the doc from WORK/results.json"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        render_results(args.work.resolve() / "results.json", args.doc, load_settings().model)
        return 0
    args.work = args.work.resolve()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
