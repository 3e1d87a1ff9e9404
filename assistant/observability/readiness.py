"""What ``GET /readyz`` reports: the index open, the models verified, the model's worker.

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
    ) -> None:
        self.counts = counts
        self.embedder = embedder
        self.model = model
        self.generator = generator

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, checks): the index's counts, the embedder, the model and its worker's
        state and CPU mode, or the error that stopped the check."""
        checks: dict[str, Any] = {}
        ready = True
        try:
            checks["index"] = self.counts()
            self.embedder()
            checks["embedder"] = "ok"
            checks["model"] = self.model
            status = getattr(self.generator(), "status", None)  # the model's worker
            if status is not None:
                worker = checks["model_worker"] = status()
                if worker["state"] == "failed":
                    ready, checks["error"] = False, worker.get("error", "the model failed")
        except AssistantError as exc:
            ready = False
            checks["error"] = exc.message
        return ready, checks
