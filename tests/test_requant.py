"""The pinned re-quantisation of a packaged GGUF (models/requant.py), with the real
llama.cpp quantiser on the real test model: made once, pinned, refused when altered,
and never trusted when this build writes other bytes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assistant.errors import ModelIntegrityError
from assistant.models import requant
from assistant.models.catalog import ModelFile, ModelSpec, Requantised, get_spec
from assistant.models.install import hash_file, installed_path
from tests.conftest import TEST_MODEL, tiny_weights


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder holding (a link to) the test model's packaged file."""
    spec = get_spec(TEST_MODEL)
    folder = tmp_path / "models"
    (folder / spec.name).mkdir(parents=True)
    installed_path(spec, folder).symlink_to(tiny_weights())
    return folder


def test_the_test_model_is_served_from_its_pinned_q8_0(models: Path) -> None:
    spec = get_spec(TEST_MODEL)
    assert spec.requantised is not None
    packaged = (installed_path(spec, models), spec.files[0].sha256)
    assert requant.serving_file(spec, models) == packaged  # not made yet: the packaged file

    done = requant.ensure(spec, models)
    assert done is not None and done.startswith("re-quantised to Q8_0")
    target = models / spec.name / spec.requantised.file.relpath
    assert requant.serving_file(spec, models) == (target, spec.requantised.file.sha256)
    assert target.stat().st_size == spec.requantised.file.size
    assert requant.ensure(spec, models) is None  # present and pinned: nothing to do
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []
    assert requant.stamp_path(spec, models).is_file()  # checked once; its size and mtime kept

    target.write_bytes(target.read_bytes()[:-1] + b"\0")  # altered after it was made
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch") as err:
        requant.serving_file(spec, models)
    assert "--force" in (err.value.hint or "")
    assert requant.ensure(spec, models, force=True) is not None
    assert hash_file(target) == spec.requantised.file.sha256


def test_a_build_that_writes_other_bytes_keeps_the_packaged_file(models: Path) -> None:
    spec = get_spec(TEST_MODEL)
    assert spec.requantised is not None
    other = dataclasses.replace(
        spec,
        requantised=dataclasses.replace(
            spec.requantised, file=dataclasses.replace(spec.requantised.file, sha256="0" * 64)
        ),
    )
    done = requant.ensure(other, models)
    assert done is not None and "not re-quantised to Q8_0" in done and "0000000000" in done
    assert not (models / spec.name / spec.requantised.file.relpath).exists()
    assert sorted(p.name for p in (models / spec.name).iterdir()) == [spec.files[0].relpath]
    assert requant.serving_file(other, models)[1] == spec.files[0].sha256


def test_only_an_llm_has_its_own_other_gguf() -> None:
    llm = get_spec(TEST_MODEL)
    same = Requantised(llm.files[0], ftype="Q8_0", why="test")
    with pytest.raises(ValueError, match="requantised"):
        dataclasses.replace(llm, requantised=same)
    embedder: ModelSpec = get_spec("all-minilm-l6-v2")
    gguf = Requantised(ModelFile("x.gguf", "0" * 64), ftype="Q8_0", why="test")
    with pytest.raises(ValueError, match="requantised"):
        dataclasses.replace(embedder, requantised=gguf)


def test_models_without_one_are_served_from_their_packaged_file(models: Path) -> None:
    assert get_spec("qwen2.5-0.5b").requantised is None
    plain = dataclasses.replace(get_spec(TEST_MODEL), requantised=None)
    assert requant.ensure(plain, models) is None
    assert requant.serving_file(plain, models) == (
        installed_path(plain, models),
        plain.files[0].sha256,
    )


def test_an_evals_answers_name_the_file_they_came_from(models: Path) -> None:
    """The eval journal's fingerprint holds these: answers of the Q4_1 file are not kept
    for the Q8_0 one (assistant/eval/standard.py)."""
    spec = get_spec(TEST_MODEL)
    assert spec.requantised is not None
    before = requant.served_hashes([TEST_MODEL, "echo"], models)
    assert before == {TEST_MODEL: spec.files[0].sha256}
    requant.ensure(spec, models)
    after = requant.served_hashes([TEST_MODEL], models)
    assert after == {TEST_MODEL: spec.requantised.file.sha256}
