"""Corpora and process plumbing for the ingest benchmarks.

Real corpora come from Debian packages (installed with apt-get when the bench
runs as root, else the figure is skipped with the reason). Ingests run as the
real CLI in a child process, so start-up, the parser child and memory are
what an administrator gets; the process tree's RSS is sampled while it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

LINUX_DOC_PACKAGE = "linux-doc-6.1"
LINUX_DOC_ROOT = Path("/usr/share/doc/linux-doc-6.1/html")
R_DOC_PACKAGE = "r-doc-pdf"
REFMAN = Path("/usr/share/R/doc/manual/refman.pdf")


class Unavailable(Exception):
    """A corpus could not be had; the message says why (the figure shows it)."""


def apt_install(package: str, probe: Path) -> Path:
    """``probe`` after making sure ``package`` is installed; Unavailable with the reason if not."""
    if probe.exists():
        return probe
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable(f"{probe} missing: run `apt-get install -y {package}` as root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", package]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # stale package lists: update once, then try again
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not probe.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"apt-get install {package} failed: {tail[0]}")
    return probe


def linux_doc_subset(dest: Path, count: int, seed: int = 0) -> list[Path]:
    """A fixed random subset of linux-doc's pages (HTML and the reStructuredText sources,
    shipped as .rst.txt), copied under ``dest`` with their relative paths."""
    root = apt_install(LINUX_DOC_PACKAGE, LINUX_DOC_ROOT)
    pages = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and (p.name.endswith(".rst.txt") or (p.suffix == ".html" and "_static" not in p.parts))
    )
    chosen = random.Random(seed).sample(pages, min(count, len(pages)))
    out: list[Path] = []
    for src in sorted(chosen):
        target = dest / src.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        out.append(target)
    return out


def pdf_pages(path: Path) -> int:
    import pikepdf

    with pikepdf.open(path) as pdf:
        return len(pdf.pages)


def pdf_prefix(src: Path, pages: int, dest: Path) -> Path:
    """The first ``pages`` pages of ``src`` as a PDF of their own (pikepdf, a copy of the
    page objects: the text layer is the original's)."""
    import warnings

    import pikepdf

    dest.parent.mkdir(parents=True, exist_ok=True)
    with pikepdf.open(src) as pdf, warnings.catch_warnings():
        warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
        out = pikepdf.new()
        out.pages.extend(pdf.pages[:pages])
        out.save(dest)
    return dest


@dataclass(slots=True)
class IngestRun:
    summary: dict[str, Any]  # the CLI's --json summary; {} if it printed none
    wall_s: float
    peak_rss: int  # bytes, whole process tree (the CLI and its parser child)
    peak_rss_single: int  # bytes, largest single process
    returncode: int
    timed_out: bool
    stderr_tail: str = ""
    rss_trace: list[tuple[float, int]] = field(default_factory=list)


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    total = largest = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


def cli_ingest(
    paths: list[Path],
    *,
    data_dir: Path,
    models_dir: Path,
    collection: str,
    timeout_s: float,
    extra_env: dict[str, str] | None = None,
    sample_every_s: float = 0.25,
) -> IngestRun:
    """``assistant ingest PATHS --json`` in a child process, its tree's RSS sampled meanwhile."""
    env = dict(os.environ)
    env.update(
        {
            "ASSISTANT_DATA_DIR": str(data_dir),
            "ASSISTANT_MODELS_DIR": str(models_dir),
            **(extra_env or {}),
        }
    )
    cmd = [sys.executable, "-m", "assistant.cli.main", "ingest", *map(str, paths)]
    cmd += ["--collection", collection, "--json"]
    started = time.perf_counter()
    child = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc = psutil.Process(child.pid)
    peak = peak_single = 0
    trace: list[tuple[float, int]] = []
    timed_out = False
    while True:
        try:
            child.wait(timeout=sample_every_s)
            break
        except subprocess.TimeoutExpired:
            pass
        total, largest = _tree_rss(proc)
        peak, peak_single = max(peak, total), max(peak_single, largest)
        trace.append((time.perf_counter() - started, total))
        if time.perf_counter() - started > timeout_s:
            timed_out = True
            for p in [*proc.children(recursive=True), proc]:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            child.wait()
            break
    out, err = child.communicate()
    wall = time.perf_counter() - started
    summary: dict[str, Any] = {}
    for line in reversed(out.strip().splitlines()):
        try:
            summary = json.loads(line)
            break
        except ValueError:
            continue
    return IngestRun(
        summary=summary,
        wall_s=wall,
        peak_rss=peak,
        peak_rss_single=peak_single,
        returncode=child.returncode,
        timed_out=timed_out,
        stderr_tail="\n".join(err.strip().splitlines()[-3:]),
        rss_trace=trace,
    )
