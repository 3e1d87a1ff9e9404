"""Shared fixtures. Fast tests use deterministic Protocol implementations
(HashEmbedder, EchoGenerator); slow tests load the real small models."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answering.generator import EchoGenerator
from assistant.resources import Resources
from assistant.settings import Settings
from ingest.embed import HashEmbedder

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
MODELS = Path(os.environ.get("ASSISTANT_MODELS_DIR", REPO / "data" / "models"))
TEST_MODEL = "smollm2-135m"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test passes, never the developer's shell or TOML."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir_override=MODELS, chunk_size=600)


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
