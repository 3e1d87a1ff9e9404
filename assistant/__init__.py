"""A private, on-premise RAG assistant: grounded, cited answers from your own documents."""

from assistant import offline as _offline  # noqa: F401  (sets offline env before anything else)

__version__ = "0.1.0"
