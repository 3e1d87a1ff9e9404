"""Benchmark area ``builds``: llama-cpp-python built natively against the portable build.

The Makefile builds llama-cpp-python as a wheel per flavour (``LLAMA_BUILD``):
``native`` (-march=native: this CPU only) and ``portable`` (every x86-64 level as a
loadable CPU backend, the best chosen at run time). Each wheel found in
``~/.cache/onprem-assistant`` is unpacked into its own folder and measured in a
child process that imports it first: the same 1,000-token prompt and 64-token
decode as the ``generation`` area, each catalogue chat model in the CPU mode its
probe picks, runs interleaved between the builds so drift hits both alike.
Build one with ``make llama-wheel LLAMA_BUILD=native`` (or ``portable``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from tests.bench.core import Context, Figure, Section

FLAVOURS = ("native", "portable")
MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b")
REPS = 3


def wheel_dir(flavour: str) -> Path:
    from importlib.metadata import version

    home = Path(os.environ.get("LLAMA_WHEELS_ROOT", Path.home() / ".cache" / "onprem-assistant"))
    return home / f"llama-cpp-python-{version('llama-cpp-python')}-{flavour}"


def unpack(flavour: str, dest: Path) -> Path | None:
    wheels = sorted(wheel_dir(flavour).glob("llama_cpp_python-*.whl"))
    if not wheels:
        return None
    target = dest / flavour
    if not target.exists():
        with zipfile.ZipFile(wheels[-1]) as zf:
            zf.extractall(target)
    return target


def measure(target: Path, model: str, models_dir: Path, repo: Path) -> dict[str, Any]:
    """One run of ``tests.bench.build_probe`` with ``target`` first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(repo)])}
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.build_probe", model, str(models_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=repo,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(ctx: Context) -> Section:
    section = Section(key="builds", title="llama.cpp builds: native against portable")
    models_dir = Path(os.environ.get("ASSISTANT_MODELS_DIR", ctx.repo / "data" / "models"))
    targets = {f: unpack(f, ctx.area_dir("builds")) for f in FLAVOURS}
    models = MODELS[:1] if ctx.quick else MODELS
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for model in models:
        for _ in range(1 if ctx.quick else REPS):
            for flavour, target in targets.items():
                if target is not None:
                    ctx.log(f"builds: {flavour} {model}")
                    runs.setdefault((flavour, model), []).append(
                        measure(target, model, models_dir, ctx.repo)
                    )
    for model in models:
        for what, key in (("prompt, 1,000 tokens", "prompt"), ("decode", "decode")):
            native = [r[key] for r in runs.get(("native", model), []) if key in r]
            for flavour, target in targets.items():
                label = f"{what}, {flavour} build — {model}"
                if target is None:
                    hint = f"make llama-wheel LLAMA_BUILD={flavour}"
                    section.add(Figure(label, "tok/s", skipped=f"no wheel: run `{hint}`"))
                    continue
                got = runs.get((flavour, model), [])
                values = [r[key] for r in got if key in r]
                if not values:
                    error = next((r["error"] for r in got if "error" in r), "no result")
                    section.add(Figure(label, "tok/s", skipped=error))
                    continue
                anchor = None
                if flavour != "native" and native:
                    anchor = sorted(native)[len(native) // 2]
                section.add(
                    Figure(label, "tok/s", values, anchor=anchor, anchor_label="native build")
                )
    for flavour, target in targets.items():
        done = [r for (f, _), rs in runs.items() if f == flavour for r in rs if "backend" in r]
        if target is not None and done:
            r = done[0]
            section.notes.append(
                f"{flavour}: CPU backend {r['backend']}, CPU mode {r['cpu_mode']}; "
                f"llama.cpp reports: {r['system_info'].strip()}"
            )
    section.notes.append(
        f"Each figure is {REPS} runs per build, interleaved, 2 threads, n_batch 512, "
        "flash attention on, from a cold KV cache (tests/bench/build_probe.py)."
    )
    return section
