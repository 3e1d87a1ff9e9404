"""The model's worker asks glibc for transparent huge pages (assistant/models/worker.py):
the environment it starts with, and the real model's memory on huge pages."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from assistant.models.catalog import get_spec
from assistant.models.install import installed_path
from assistant.models.model_worker import model_worker, worker_spec
from assistant.models.worker import huge_pages_env
from assistant.settings import Settings
from tests.conftest import MODELS, TEST_MODEL

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def test_the_tunable_joins_the_operators_and_never_overrides_a_choice() -> None:
    assert huge_pages_env({}) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    mine = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert huge_pages_env(mine) == {
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    }
    assert huge_pages_env({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == {}


def test_the_setting_reaches_the_workers_environment(tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF")
    on = worker_spec(Settings(data_dir=tmp_path), weights, "0" * 64)
    off = worker_spec(Settings(data_dir=tmp_path, model_huge_pages=False), weights, "0" * 64)
    assert "glibc.malloc.hugetlb=1" in on.env["GLIBC_TUNABLES"]
    assert off.env == {}
    assert on.with_mode("plain").env == on.env  # each rung of the CPU-mode ladder keeps it


def _thp_possible() -> bool:
    glibc = platform.libc_ver()
    return (
        THP.is_file()
        and "[never]" not in THP.read_text()
        and glibc[0] == "glibc"
        and tuple(int(x) for x in glibc[1].split(".")[:2]) >= (2, 35)
    )


@pytest.mark.slow
@pytest.mark.skipif(not _thp_possible(), reason="needs glibc 2.35+ and THP not 'never'")
def test_the_real_models_weights_sit_on_huge_pages(tmp_path: Path) -> None:
    spec = get_spec(TEST_MODEL)
    path = installed_path(spec, MODELS)
    if not path.exists():
        pytest.fail(f"model {TEST_MODEL} is not installed in {MODELS}: run `make test`")
    seen = {}
    for huge in (True, False):
        settings = Settings(data_dir=tmp_path, model=TEST_MODEL, model_huge_pages=huge)
        worker = model_worker(settings, path, spec.files[0].sha256)
        try:
            assert "".join(worker.stream([{"role": "user", "content": "Hi"}], max_tokens=4))
            seen[huge] = worker.status()["probes"][-1].get("huge_pages_mb", 0)
        finally:
            worker.close()
    assert seen[True] >= 50 > seen[False], seen  # the 135M model repacked: ~100 MiB
