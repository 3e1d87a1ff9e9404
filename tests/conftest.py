"""Shared fixtures. Fast tests use deterministic Protocol implementations
(HashEmbedder, EchoGenerator); slow tests load the real small models."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.answering.generator import EchoGenerator
from assistant.models.catalog import get_spec
from assistant.models.cpu import CpuMode, describe_cpu
from assistant.models.embed import HashEmbedder
from assistant.models.install import installed_path
from assistant.resources import Resources
from assistant.settings import Settings

#: the page tests' one browser (Debian's chromium through Playwright)
pytest_plugins = ["tests.browser_fixture", "tests.ray_cluster"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
MODELS = Path(os.environ.get("ASSISTANT_MODELS_DIR", REPO / "data" / "models"))
TEST_MODEL = "smollm2-135m"
#: The CPU mode of tests that load llama.cpp in the test process itself. On a CPU with AMX,
#: "extra" crashes in llama-cpp-python 0.3.36 (issue 7), and "no-amx" needs a seccomp
#: filter that could never be lifted from the test process: "plain" there, unless this is
#: a child run that refused AMX first (``pytest -p tests.deny_amx``). The model's worker
#: process, which the other tests use, probes its own mode.
_AMX_REFUSED = "tests.deny_amx" in sys.modules
IN_PROCESS_MODE: CpuMode = (
    "extra" if not describe_cpu()["amx"] else "no-amx" if _AMX_REFUSED else "plain"
)


def tiny_weights() -> Path:
    """The test model's GGUF, for tests that load llama.cpp themselves (skipped without it)."""
    path = installed_path(get_spec(TEST_MODEL), MODELS)
    if not path.exists():
        pytest.skip(f"model {TEST_MODEL} is not installed in {MODELS} (make models)")
    return path


def tiny_one_at_a_time(tmp_path: Path) -> tuple[Settings, Any]:
    """Settings and the worker spec of the test model under ``PARALLEL=auto`` whose choice
    is forced to one answer at a time (an EPYC's: no gain reaches ``min_gain``)."""
    import dataclasses

    from assistant.models.model_worker import worker_spec

    s = Settings(data_dir=tmp_path, model=TEST_MODEL, threads=1, context_size=1024,
                 flash_attn=True, model_huge_pages=False)  # fmt: skip
    spec = worker_spec(s, tiny_weights(), "0" * 64)
    return s, dataclasses.replace(spec, kwargs={**spec.kwargs, "min_gain": 1e9})


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test passes, never the developer's shell or TOML."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # min_score: the default gate is calibrated on MiniLM cosines (docs/EVAL.md); the hash
    # embedder of the fast tests scores related texts lower, so its gate sits lower too.
    return Settings(
        data_dir=tmp_path / "data", models_dir_override=MODELS, chunk_size=600, min_score=0.25
    )


@pytest.fixture
def resources(settings: Settings) -> Iterator[Resources]:
    res = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    yield res
    res.close()


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of data/sample that a test may change."""
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest)
    return dest


# -- sign-in helpers ---------------------------------------------------------------
PASSWORD = "correct horse battery staple"


def add_user(
    resources: Resources,
    name: str = "alice",
    *,
    groups: tuple[str, ...] = ("staff",),
    clearance: str = "public",
    role: str = "employee",
) -> str:
    """Create an account (password ``PASSWORD``) and return an API token for it."""
    from assistant.auth.principal import Level

    resources.access.add_user(
        name,
        PASSWORD,
        role=role,
        groups=frozenset(groups),
        clearance=Level.parse(clearance),
        actor="test",
    )
    return resources.access.store.issue_token(name)


def open_collection(
    resources: Resources,
    name: str = "sample",
    groups: tuple[str, ...] = ("staff",),
    label: str = "public",
) -> None:
    from assistant.auth.principal import Level

    resources.access.set_collection(name, frozenset(groups), Level.parse(label), actor="test")


@pytest.fixture
def auth(resources: Resources) -> dict[str, str]:
    """Bearer headers of "alice" (group staff), who may read the "sample" collection."""
    open_collection(resources)
    return {"Authorization": f"Bearer {add_user(resources)}"}
