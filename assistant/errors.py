"""The assistant's error hierarchy.

Each error carries a stable ``code`` and an HTTP status. They are mapped to
HTTP responses in ``assistant.server.errors`` and to CLI messages in
``assistant.cli.errors`` -- one place each.
"""

from __future__ import annotations


class AssistantError(Exception):
    code = "error"
    status_code = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(AssistantError):
    code = "config_error"
    status_code = 500


class ModelError(AssistantError):
    code = "model_error"
    status_code = 503


class ModelNotInstalled(ModelError):
    code = "model_not_installed"


class ModelIntegrityError(ModelError):
    """A model file's SHA-256 is not the pinned one: never load it."""

    code = "model_integrity"


class ModelCrashed(ModelError):
    """The model's worker process died while answering; it restarts by itself."""

    code = "model_crashed"


class ModelUnavailable(ModelError):
    """The model cannot serve: it failed to load, or its worker keeps crashing."""

    code = "model_unavailable"


class EmbedderMismatch(ConfigError):
    """The index holds vectors from another embedding model or backend: they don't compare."""

    code = "embedder_mismatch"


class TuningError(AssistantError):
    """``assistant tune`` could not make a model: too few usable questions, most often."""

    code = "tuning_error"
    status_code = 422


class IngestError(AssistantError):
    """A document could not be turned into chunks. Carries a quarantine reason."""

    code = "ingest_error"
    status_code = 422


class UnsupportedFormat(IngestError):
    code = "unsupported_format"


class EmptyDocument(IngestError):
    code = "no_text"


class FileTooLarge(IngestError):
    code = "too_large"


# -- ingest quarantine reasons (ingest/parsing/detect.py, parse.py, isolate.py) ---------
class CorruptFile(IngestError):
    """Truncated or malformed: the bytes do not form the format they claim."""

    code = "corrupt"


class EncryptedDocument(IngestError):
    code = "encrypted"


class ZipBomb(IngestError):
    """A DOCX/PPTX/XLSX whose parts would inflate far beyond a sane size."""

    code = "zip_bomb"


class TooDeeplyNested(IngestError):
    """HTML nested so deep that parsers would silently cut it off."""

    code = "too_deep"


class OcrUnavailable(IngestError):
    code = "ocr_unavailable"


class ParseTimeout(IngestError):
    code = "timeout"


class ParseMemoryLimit(IngestError):
    code = "memory_limit"


class ParserCrashed(IngestError):
    code = "parser_crashed"


class FileChangedWhileReading(IngestError):
    """Still being written (a copy in progress): retried when the next change arrives."""

    code = "changed_while_reading"


class DatasetError(AssistantError):
    """An eval data set that cannot be read (assistant/eval)."""

    code = "eval_dataset_invalid"


class IndexBusy(AssistantError):
    """Another process is writing the index (e.g. the server's inbox watcher)."""

    code = "index_busy"
    status_code = 409


class InvalidQuestion(AssistantError):
    code = "invalid_question"
    status_code = 400


class InvalidInput(AssistantError):
    code = "invalid_input"
    status_code = 400


class InvalidFeedback(AssistantError):
    code = "invalid_feedback"
    status_code = 400


class NotFound(AssistantError):
    code = "not_found"
    status_code = 404


# -- audit log (assistant/audit) ----------------------------------------------
class AuditError(AssistantError):
    """The audit log cannot be written or read as asked."""

    code = "audit_error"
    status_code = 500


class AuditKeyError(AuditError):
    """The checkpoint signing or verification key is missing, unreadable or too open."""

    code = "audit_key"


class AuditTampered(AuditError):
    """``verify`` found the log altered: edited, deleted, reordered, truncated or forged."""

    code = "audit_tampered"
