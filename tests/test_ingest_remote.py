"""What a Ray task runs (ingest/remote.py), without Ray: bytes and a hash in, a ``Prepared``
or a reason out. The cluster itself: tests/test_ingest_ray.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant import errors
from assistant.settings import Settings
from ingest.remote import PrepareSpec, Refusal, prepare_bytes
from tests.conftest import MODELS


def _spec(tmp_path: Path) -> PrepareSpec:
    settings = Settings(
        data_dir=tmp_path / "data",
        models_dir_override=MODELS,
        embedding_model="hash",
        multilingual_embedding_model=None,
        max_file_mb=1,
    )
    return PrepareSpec.from_settings(settings)


def test_bytes_that_are_not_the_hashed_ones_are_refused_before_parsing(tmp_path: Path) -> None:
    got = prepare_bytes(_spec(tmp_path), "/srv/a.txt", b"new bytes", "0" * 64, "c")
    assert isinstance(got, Refusal) and got.error == "FileChangedWhileReading"
    rebuilt = got.rebuild()
    assert isinstance(rebuilt, errors.FileChangedWhileReading)
    assert rebuilt.code == "changed_while_reading"  # the local class, its code
    assert rebuilt.message == got.message and rebuilt.hint == got.hint


def test_too_many_bytes_are_refused_as_locally(tmp_path: Path) -> None:
    data = b"x" * (2**20 + 1)
    got = prepare_bytes(
        _spec(tmp_path), "/srv/big.txt", data, hashlib.sha256(data).hexdigest(), "c"
    )
    assert isinstance(got, Refusal) and isinstance(got.rebuild(), errors.FileTooLarge)


def test_a_refusal_of_an_unknown_kind_comes_back_as_an_ingest_error() -> None:
    rebuilt = Refusal("NoSuchError", "odd", None).rebuild()
    assert type(rebuilt) is errors.IngestError and rebuilt.message == "odd"
    assert type(Refusal("ConfigError", "x", None).rebuild()) is errors.IngestError
