"""Render sections as markdown and merge them into docs/BENCHMARKS.md.

The file is made of marked blocks: a header (the machine) and one block per
area. Running one area replaces only its block, so figures measured by other
areas, or in an earlier full run, are kept; each block says when it was
measured and how loaded the machine was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from tests.bench.core import Figure, Section, fmt
from tests.bench.machine import Machine

TITLE = "# Benchmarks"
_BLOCK = re.compile(
    r"<!-- bench:(?P<key>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=key) -->\n?", re.DOTALL
)
HEADER_KEY = "machine"

_INTRO = (
    "Written by `make bench` (`python -m tests.bench.run [AREA …]`); do not edit by hand. "
    "Each table gives the median of the samples, their min–max, the ratio of the median to "
    "its anchor (a baseline measured in the same run where a comparison is made) and the "
    "verdict against the target. The machine is shared while engineers work on it: each "
    "section gives the load average when it started, and ratios within one run are the "
    "figures to trust when it is high."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(f: Figure) -> str:
    if f.median is None:
        cells = [f.name, "–", "–", f.unit, "–", "–", "; ".join(t.label() for t in f.targets)]
        cells.append(f"skipped: {f.skipped}" if f.skipped else "—")
        return "| " + " | ".join(_cell(c) for c in cells) + " |"
    lo, hi = min(f.samples), max(f.samples)
    spread = fmt(lo) if len(f.samples) == 1 else f"{fmt(lo)}–{fmt(hi)}"
    anchor = f"{fmt(f.anchor)} ({f.anchor_label})" if f.anchor is not None else "–"
    ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "–"
    cells = [
        f.name,
        f"**{fmt(f.median)}**",
        f"{spread} (n={len(f.samples)})",
        f.unit,
        anchor,
        ratio,
        "; ".join(t.label() for t in f.targets) or "–",
        f.verdict(),
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render_section(section: Section) -> str:
    lines = [f"## {section.title}", ""]
    load = (
        " · load average " + " / ".join(f"{x:.1f}" for x in section.load_average)
        if section.load_average
        else ""
    )
    lines.append(
        f"_Measured {section.measured_at}{' on ' + section.cpu if section.cpu else ''} "
        f"in {section.seconds:.0f} s{load}. "
        f"Re-run: `python -m tests.bench.run {section.key}`._"
    )
    lines.append("")
    if section.error:
        lines += [f"**The area failed:** `{_cell(section.error)}`", ""]
    if section.figures:
        lines.append("| figure | median | min–max | unit | anchor | ratio | target | result |")
        lines.append("|---|---|---|---|---|---|---|---|")
        lines += [_row(f) for f in section.figures]
        lines.append("")
    notes = [f"- **{f.name}:** {f.note}" for f in section.figures if f.note]
    if notes:
        lines += [*notes, ""]
    for note in section.notes:
        lines += [note, ""]
    return "\n".join(lines)


def render_header(machine: Machine, areas_run: Sequence[str], seconds: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    return "\n".join(
        [
            "## Machine",
            "",
            *machine.describe(),
            f"- Last run: {when}, areas {', '.join(areas_run) or '(none)'}, {seconds:.0f} s",
            "- Each section names the CPU it was measured on; a section that names none was "
            "measured on an AMD EPYC before 2026-12-07 (AVX2, or AVX-512 from 2026-12-06 on)",
            "",
        ]
    )


def _block(key: str, body: str) -> str:
    return f"<!-- bench:{key} -->\n{body.rstrip()}\n<!-- /bench:{key} -->\n"


def merge(existing: str, header: str, sections: Sequence[Section], order: Sequence[str]) -> str:
    """The new file: this run's header and sections, other areas' blocks kept as they were."""
    blocks = {m.group("key"): m.group("body") for m in _BLOCK.finditer(existing)}
    blocks[HEADER_KEY] = header
    for s in sections:
        blocks[s.key] = render_section(s)
    keys = [HEADER_KEY, *[k for k in order if k in blocks]]
    keys += sorted(k for k in blocks if k not in keys)  # areas no longer registered
    parts = [TITLE, "", _INTRO, ""]
    parts += [_block(k, blocks[k]) for k in keys]
    return "\n".join(parts)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
