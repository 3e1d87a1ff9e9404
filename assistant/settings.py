"""One typed settings object, built once at the entry points and passed down.

Values come, highest priority first, from keyword arguments, ``ASSISTANT_*``
environment variables, an optional TOML file (``ASSISTANT_CONFIG`` or
``assistant.toml`` in the working directory) and the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.errors import ConfigError

DEFAULT_TOML = "assistant.toml"


def _toml_file() -> Path | None:
    configured = os.environ.get("ASSISTANT_CONFIG")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ConfigError(f"ASSISTANT_CONFIG names a file that does not exist: {path}")
        return path
    local = Path(DEFAULT_TOML)
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Every knob of the assistant. See README "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", extra="ignore", populate_by_name=True
    )

    # -- where things live -------------------------------------------------
    data_dir: Path = Field(default=Path("data"), description="Root of inbox/, index/, models/ …")
    models_dir_override: Path | None = Field(
        default=None,
        alias="ASSISTANT_MODELS_DIR",
        description="Where verified model files live (default: DATA_DIR/models)",
    )

    # -- models --------------------------------------------------------------
    model: str = Field(default="qwen2.5-1.5b", description="Catalogue name of the GGUF model")
    model_path: Path | None = Field(
        default=None, description="Explicit GGUF path; its SHA-256 must match the catalogue entry"
    )
    embedding_model: str = Field(default="all-minilm-l6-v2")
    context_size: int = Field(default=4096, ge=512)
    threads: int = Field(default=max(1, os.cpu_count() or 1), ge=1)
    batch_size: int = Field(default=512, ge=8)
    max_tokens: int = Field(default=256, ge=1, description="Answer length cap in tokens")
    temperature: float = Field(default=0.0, ge=0.0)
    repeat_penalty: float = Field(
        default=1.1, ge=1.0, description="Discourages loops in small models"
    )

    # -- ingest --------------------------------------------------------------
    chunk_size: int = Field(default=800, ge=100, description="Max characters per chunk")
    chunk_overlap: int = Field(default=0, ge=0)
    embed_batch_size: int = Field(default=64, ge=1)
    max_file_mb: int = Field(default=200, ge=1, description="Files above this size are refused")

    # -- retrieval / answering ----------------------------------------------
    top_k: int = Field(default=4, ge=1, le=50)
    context_tokens: int = Field(
        default=350, ge=0, description="Token budget for the selected sentences (0: whole chunks)"
    )
    min_score: float = Field(
        default=0.25, description="Cosine similarity below which a chunk is not relevant"
    )

    # -- server --------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("data_dir", "models_dir_override", mode="after")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        return v.expanduser().resolve() if v is not None else None

    # -- derived paths -------------------------------------------------------
    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.models_dir_override or self.data_dir / "models"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    def ensure_dirs(self) -> None:
        for d in (
            self.inbox_dir,
            self.index_dir,
            self.models_dir,
            self.quarantine_dir,
            self.audit_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings at an entry point (CLI, server); invalid values become a ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
