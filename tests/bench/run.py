"""Run the benchmark areas and rewrite docs/BENCHMARKS.md.

    python -m tests.bench.run                 # every registered area (``make bench``)
    python -m tests.bench.run ingest          # one area; other sections of the file are kept
    python -m tests.bench.run --list
    python -m tests.bench.run ingest --quick  # small sizes: checks the bench code, not the speed

To add an area: write ``tests/bench/bench_<area>.py`` with ``def run(ctx) -> Section``
and add one line to ``REGISTRY``. Modules are named bench_*.py so pytest never
collects them (it collects test_*.py). A failing area is reported in its own
section and does not stop the others.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import assistant.offline  # noqa: F401  (offline before any model library loads)
from tests.bench.core import Context, Section, load_average
from tests.bench.isolated import needs_child, run_in_child
from tests.bench.machine import probe
from tests.bench.report import merge, render_header, render_section, write

#: area -> module exposing ``run(ctx) -> Section``. Order = order in the file and of a full run.
REGISTRY: dict[str, str] = {
    "ingest": "tests.bench.bench_ingest",
    "audit": "tests.bench.bench_audit",
    "review": "tests.bench.bench_review",
    "retrieval": "tests.bench.bench_retrieval",
    "load": "tests.bench.bench_load",
    "generation": "tests.bench.bench_generation",
    "worker": "tests.bench.bench_worker",
    "batched_decode": "tests.bench.bench_batched_decode",
    "builds": "tests.bench.bench_builds",
    "security": "tests.bench.bench_security",
    "follow": "tests.bench.bench_follow",
    "ray_ingest": "tests.bench.bench_ray_ingest",
    "multilingual": "tests.bench.bench_multilingual",
}

#: areas a full run leaves out (they take long and answer a one-off question); name them to run
ON_REQUEST = frozenset({"builds"})  # native vs portable llama.cpp build: 12 min

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "docs" / "BENCHMARKS.md"
CACHE = Path.home() / ".cache" / "onprem-assistant-bench"


def run_area(key: str, ctx: Context) -> Section:
    started = time.perf_counter()
    measured_at = time.strftime("%Y-%m-%d %H:%M")
    load = load_average()
    ctx.log(f"area {key}: start (load average {load[0]:.1f})")
    try:
        module = importlib.import_module(REGISTRY[key])
        section: Section = module.run(ctx)
    except Exception as exc:  # one broken area must not lose the others' figures
        traceback.print_exc()
        section = Section(key=key, title=key, error=f"{type(exc).__name__}: {exc}")
    section.key = key
    section.seconds = time.perf_counter() - started
    section.measured_at = measured_at
    section.load_average = load
    section.cpu = ctx.machine.label()
    ctx.log(f"area {key}: done in {section.seconds:.0f} s")
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("areas", nargs="*", help=f"areas to run (default all: {list(REGISTRY)})")
    parser.add_argument("--list", action="store_true", help="list the areas and exit")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the markdown file to update")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="downloads kept between runs")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(REGISTRY))
        return 0
    unknown = [a for a in args.areas if a not in REGISTRY]
    if unknown:
        parser.error(f"unknown area(s) {unknown}; known: {list(REGISTRY)}")
    areas = args.areas or [a for a in REGISTRY if a not in ON_REQUEST]

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        machine = probe()
        ctx = Context(
            repo=REPO, work_dir=work, cache_dir=args.cache_dir, machine=machine, quick=args.quick
        )
        ctx.log("machine: " + "; ".join(machine.describe()))
        sections = [
            run_in_child(key, ctx) if needs_child(key) else run_area(key, ctx) for key in areas
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    existing = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
    header = render_header(machine, areas, seconds)
    write(args.output, merge(existing, header, sections, list(REGISTRY)))
    for s in sections:
        print(render_section(s))
    print(f"wrote {args.output} ({seconds:.0f} s)")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
