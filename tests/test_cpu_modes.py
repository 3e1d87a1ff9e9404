"""CPU modes: AMX can be refused to a process and nothing else; the real model runs in
each mode and answers; the mode in use is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assistant.models.catalog import get_spec
from assistant.models.cpu import describe_cpu
from assistant.models.install import installed_path
from assistant.models.model_worker import model_worker
from assistant.settings import Settings
from tests.conftest import MODELS, TEST_MODEL

REFUSE_AND_ASK = """
import errno, subprocess, threading
from assistant.models import amx
def ssb():  # where a kernel forces the mitigation on seccomp users, this line changes
    return [l for l in open("/proc/self/status") if l.startswith("Speculation_Store_Bypass")]
before = ssb()
amx.deny_amx()
assert ssb() == before, (before, ssb())  # no speculation mitigation forced: not a sandbox
seen = [amx.request_amx()]
t = threading.Thread(target=lambda: seen.append(amx.request_amx()))
t.start(); t.join()
assert seen == [errno.EPERM, errno.EPERM], seen
assert subprocess.run(["true"]).returncode == 0  # every other system call still works
print("ok")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp is Linux's")
def test_no_amx_refuses_amx_and_only_amx() -> None:
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", REFUSE_AND_ASK], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_describe_cpu_reads_the_model_and_flags(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
        "flags\t\t: fpu avx2 avx512f avx512_vnni amx_tile amx_int8\n"
    )
    cpu = describe_cpu(info)
    assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8488C"
    assert cpu["flags"] == ["avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]
    assert cpu["amx"] is True


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "no-amx", "plain"])
def test_the_real_model_answers_in_each_cpu_mode(tmp_path: Path, mode: str) -> None:
    spec = get_spec(TEST_MODEL)
    path = installed_path(spec, MODELS)
    if not path.exists():
        pytest.fail(f"model {TEST_MODEL} is not installed in {MODELS}: run `make test`")
    settings = Settings(data_dir=tmp_path, model=TEST_MODEL, model_cpu_mode=mode)
    worker = model_worker(settings, path, spec.files[0].sha256)
    try:
        messages = [{"role": "user", "content": "Say hello."}]
        text = "".join(worker.stream(messages, max_tokens=8))
        assert text.strip()
        st = worker.status()
        assert st["state"] == "ready"
        assert st["cpu_mode"] == ("extra" if mode == "auto" else mode) or any(
            p["result"] != "passed"
            for p in st["probes"]  # auto on a CPU whose probe crashed
        )
        assert st["probes"][-1]["result"] == "passed"
    finally:
        worker.close()
