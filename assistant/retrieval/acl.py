"""Access control inside retrieval: only chunks of collections the asker may read come back.

The filter sits between the index's ranked ids and the loading of any chunk
text, for dense and lexical search alike, so nothing unpermitted can reach the
prompt, the sources, the stream or any cache.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.store.documents import Store

Hits = list[tuple[int, float]]


def permitted_search(
    search: Callable[[int], Hits],
    store: Store,
    k: int,
    collections: frozenset[str] | None,
    total: int,
) -> Hits:
    """Top ``k`` of ``search`` restricted to ``collections`` (None: unrestricted).

    Asks the index for more hits until ``k`` permitted ones are found or the
    index is exhausted (4x, 16x, ... ``k``).
    """
    if collections is None:
        return search(k)
    if not collections:
        return []
    n = k
    while True:
        hits = search(n)
        allowed = store.vids_in_collections([vid for vid, _ in hits], collections)
        kept = [(vid, s) for vid, s in hits if vid in allowed]
        if len(kept) >= k or len(hits) < n or n >= total:
            return kept[:k]
        n *= 4
