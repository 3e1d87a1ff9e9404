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


class InvalidQuestion(AssistantError):
    code = "invalid_question"
    status_code = 400


class NotFound(AssistantError):
    code = "not_found"
    status_code = 404
