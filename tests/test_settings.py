from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant.settings import Settings


def test_defaults_and_derived_dirs(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.inbox_dir == tmp_path / "inbox"
    assert s.index_dir == tmp_path / "index"
    assert s.models_dir == tmp_path / "models"
    assert s.quarantine_dir == tmp_path / "quarantine"
    assert s.audit_dir == tmp_path / "audit"
    s.ensure_dirs()
    assert all((tmp_path / d).is_dir() for d in ("inbox", "index", "models", "quarantine", "audit"))


def test_env_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_TOP_K", "7")
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "m"))
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.top_k == 7
    assert s.models_dir == tmp_path / "m"


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "assistant.toml"
    toml.write_text('top_k = 9\nchunk_size = 500\nmodel = "smollm2-135m"\n')
    monkeypatch.setenv("ASSISTANT_CONFIG", str(toml))
    monkeypatch.setenv("ASSISTANT_CHUNK_SIZE", "700")
    s = Settings()
    assert s.top_k == 9
    assert s.model == "smollm2-135m"
    assert s.chunk_size == 700  # the environment wins over the file


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TOP_K", "0")
    with pytest.raises(ValueError, match="top_k"):
        Settings()


def test_missing_config_file_and_bad_values_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from assistant.errors import ConfigError
    from assistant.settings import load_settings

    monkeypatch.setenv("ASSISTANT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    monkeypatch.delenv("ASSISTANT_CONFIG")
    monkeypatch.setenv("ASSISTANT_PORT", "99999")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def test_chunk_overlap_is_at_most_half_a_chunk() -> None:
    assert Settings(chunk_size=800, chunk_overlap=400).chunk_overlap == 400
    with pytest.raises(ValidationError, match="chunk_overlap"):
        Settings(chunk_size=800, chunk_overlap=401)
