"""A sliding-window rate limiter, per key (a user, or a user and address)."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from assistant.errors import AssistantError


class RateLimited(AssistantError):
    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"retry in {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)

    def hit(self, key: str, what: str = "requests") -> None:
        """Count one event for ``key``; raise ``RateLimited`` past the limit."""
        now = self.clock()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = max(1, math.ceil(self.window_s - (now - hits[0])))
                raise RateLimited(f"too many {what}; try again later", retry_after=wait)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys
                for k in [
                    k for k, v in self._hits.items() if not v or now - v[-1] >= self.window_s
                ]:
                    del self._hits[k]

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
