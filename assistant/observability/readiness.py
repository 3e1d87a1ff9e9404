"""What ``GET /readyz`` reports: the index open, the models verified, the models' workers,
and ``restart_needed`` when the index was re-embedded by another embedder since the server
loaded its own (it answers from what it loaded until restarted: ingest/reembed.py).

Checking builds what it checks (the first check of a cold server loads the
embedder and hash-checks the model), so only the readiness probe calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.errors import AssistantError


class Readiness:
    def __init__(
        self,
        *,
        counts: Callable[[], dict[str, int]],
        embedder: Callable[[], object],
        model: str,
        generator: Callable[[], object],
        draft_model: str | None = None,
        draft: Callable[[], object] | None = None,
        index_embedder: Callable[[], str | None] | None = None,
        multilingual: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.counts = counts
        self.embedder = embedder
        self.model = model
        self.generator = generator
        self.draft_model = draft_model  # answers first (settings.draft_model)
        self.draft = draft
        self.index_embedder = index_embedder  # what the store says embedded the index
        self.multilingual = multilingual  # the second, multilingual index's state

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, checks): the index's counts, the embedder, the multilingual index's state
        (``ready``, ``incomplete`` with the chunks missing their vector, or ``off`` and why:
        it never makes the server unready), the model and its worker's
        state and CPU mode (and the draft model's, as ``draft_model``/``draft_model_worker``),
        or the error that stopped the check."""
        checks: dict[str, Any] = {}
        ready = True
        try:
            checks["index"] = self.counts()
            embedder = getattr(self.embedder(), "name", None)
            checks["embedder"] = "ok"
            recorded = self.index_embedder() if self.index_embedder is not None else None
            if recorded and embedder and recorded != embedder:  # `assistant reembed` since
                checks["restart_needed"] = (
                    f"the index was re-embedded by {recorded}; this server embeds questions "
                    f"with {embedder}: restart it with the embedding settings for {recorded}"
                )
            if self.multilingual is not None:  # informative: English retrieval serves without
                checks["multilingual_index"] = self.multilingual()
            models = [("model", self.model, self.generator)]
            if self.draft_model is not None and self.draft is not None:
                models.insert(0, ("draft_model", self.draft_model, self.draft))
            for key, name, generator in models:
                checks[key] = name
                status = getattr(generator(), "status", None)  # the model's worker
                if status is not None:
                    worker = checks[f"{key}_worker"] = status()
                    if worker["state"] == "failed":
                        ready = False
                        checks["error"] = worker.get("error", f"the model {name} failed")
        except AssistantError as exc:
            ready = False
            checks["error"] = exc.message
        return ready, checks
