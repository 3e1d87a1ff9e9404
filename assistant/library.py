"""The library as the pages show it: how many documents and chunks, in which collections.

Read-only, over the document store (assistant/store/): the chat page shows the
counts, the admin and review pages the collections. Changes go through the
ingestor, never through here.
"""

from __future__ import annotations

from assistant.store.documents import CollectionCounts, Store


class Library:
    def __init__(self, store: Store) -> None:
        self._store = store

    def counts(self) -> dict[str, int]:
        """Documents and chunks in the whole store."""
        return self._store.counts()

    def collections(self) -> list[CollectionCounts]:
        """Each collection with documents, and how many documents and chunks it holds."""
        return self._store.collections()
