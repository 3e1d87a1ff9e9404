"""The ingestion pipeline: parse -> chunk -> embed -> index."""

from assistant import offline as _offline  # noqa: F401  (before unstructured is imported)
