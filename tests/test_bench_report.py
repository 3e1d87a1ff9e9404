"""The bench report: verdicts, and a one-area run that keeps the other areas' sections."""

from __future__ import annotations

from tests.bench.core import Figure, Section, Target
from tests.bench.machine import Machine
from tests.bench.report import merge, render_header

MACHINE = Machine("Test CPU", 2, 8 * 2**30, ("avx2",), 20.0, 18.0, 12.0, "3.11")


def _section(key: str, value: float) -> Section:
    s = Section(key=key, title=key.title(), measured_at="2026-01-01 00:00")
    s.add(Figure("speed", "x/s", [value, value * 0.9, value * 1.1], targets=[Target(100.0)]))
    return s


def test_verdicts_follow_targets_on_value_and_ratio() -> None:
    assert Figure("a", "x", [120.0], targets=[Target(100.0)]).verdict() == "pass"
    assert Figure("a", "x", [80.0], targets=[Target(100.0)]).verdict() == "**miss**"
    ratio = Target(0.02, on="ratio", op="<=")
    assert Figure("r", "s", [1.0], anchor=100.0, targets=[ratio]).verdict() == "pass"
    assert Figure("r", "s", [5.0], anchor=100.0, targets=[ratio]).verdict() == "**miss**"
    assert Figure("s", "x", skipped="no corpus").verdict() == "skipped"
    cut = Figure("u", "MiB", [900.0], targets=[Target(2048.0, op="<=")], unfinished="limit")
    assert cut.verdict() == "unfinished: limit"


def test_one_area_run_replaces_only_its_own_section() -> None:
    header = render_header(MACHINE, ["ingest", "retrieval"], 10.0)
    first = merge("", header, [_section("ingest", 150.0), _section("retrieval", 50.0)], [])
    assert "**150**" in first and "**50.0**" in first and "20.0 GB/s" in first

    again = merge(first, render_header(MACHINE, ["ingest"], 5.0), [_section("ingest", 90.0)], [])
    assert "**90.0**" in again and "**150**" not in again
    assert "**50.0**" in again  # retrieval's figures survive an ingest-only run
    assert again.count("<!-- bench:retrieval -->") == 1
    assert again.index("bench:machine") < again.index("bench:ingest")
