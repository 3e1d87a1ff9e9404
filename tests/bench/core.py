"""What a benchmark module returns: figures grouped in a section, judged against targets.

A module ``tests/bench/bench_<area>.py`` exposes ``run(ctx: Context) -> Section``
and is registered in ``tests.bench.run.REGISTRY``. Each ``Figure`` keeps its raw
samples; the report shows the median, the min–max, the ratio to its anchor (a
baseline measured in the same run wherever a comparison is made, else a
published figure) and whether it meets its target.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.bench.machine import Machine

Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Target:
    """``value`` or ``ratio`` (median ÷ anchor) must be ≥ / ≤ ``bound``."""

    bound: float
    on: Literal["value", "ratio"] = "value"
    op: Literal[">=", "<="] = ">="
    text: str = ""  # how to show it, e.g. "≥ torch − 1 pt"

    def met(self, value: float, ratio: float | None) -> bool | None:
        x = value if self.on == "value" else ratio
        if x is None:
            return None
        return x >= self.bound if self.op == ">=" else x <= self.bound

    def label(self) -> str:
        if self.text:
            return self.text
        what = "" if self.on == "value" else "ratio "
        return f"{what}{'≥' if self.op == '>=' else '≤'} {fmt(self.bound)}"


@dataclass(slots=True)
class Figure:
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    anchor: float | None = None
    anchor_label: str = ""  # e.g. "torch, same run"
    targets: list[Target] = field(default_factory=list)
    note: str = ""
    skipped: str = ""  # why it was not measured (the figure still shows, with the reason)
    unfinished: str = ""  # measured, but the run was cut short: no verdict (the note says why)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def ratio(self) -> float | None:
        m = self.median
        if m is None or not self.anchor:
            return None
        return m / self.anchor

    def verdict(self) -> str:
        m = self.median
        if m is None:
            return "skipped" if self.skipped else "—"
        if self.unfinished:
            return f"unfinished: {self.unfinished}"
        results = [t.met(m, self.ratio) for t in self.targets]
        if not results:
            return "—"
        if any(r is False for r in results):
            return "**miss**"
        return "pass" if all(results) else "—"


@dataclass(slots=True)
class Section:
    key: str  # the area name used on the command line, e.g. "ingest"
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # markdown paragraphs under the table
    seconds: float = 0.0
    measured_at: str = ""
    load_average: tuple[float, float, float] | None = None
    error: str = ""
    cpu: str = ""  # the CPU it was measured on (the file's header names the last run's)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


@dataclass(slots=True)
class Context:
    """What every benchmark module gets: where to work and cache, and the machine."""

    repo: Path
    work_dir: Path  # a fresh temporary folder for this run, deleted afterwards
    cache_dir: Path  # kept between runs: downloaded wheels, corpora subsets
    machine: Machine
    quick: bool = False  # smaller sizes, for a smoke run of the bench code

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def area_dir(self, key: str) -> Path:
        path = self.work_dir / key
        path.mkdir(parents=True, exist_ok=True)
        return path


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def fmt(x: float | None) -> str:
    """Three significant figures, thousands separated; '–' for nothing."""
    if x is None:
        return "–"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"
