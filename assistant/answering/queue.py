"""One CPU model, many users: a bounded, fair (FIFO) queue in front of generation.

Generation runs in worker threads; a request takes a ticket on arrival (or is
told at once that the queue is full, never left hanging), waits its turn in
arrival order, and can see its position while it waits. ``slots`` answers run at
once (model replicas, or sequences one model decodes together); the rest wait.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

from assistant.errors import AssistantError


class QueueFull(AssistantError):
    code = "busy"
    status_code = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"retry in {retry_after} s")
        self.retry_after = retry_after


class QueueTimeout(AssistantError):
    code = "timeout"
    status_code = 504


class Ticket:
    def __init__(self, queue: ModelQueue, number: int) -> None:
        self.queue = queue
        self.number = number
        self.admitted = False
        self.released = False
        self.last_seen = time.monotonic()  # a waiting ticket nobody polls is abandoned

    def poll(self, *, wait: float, cancel: threading.Event | None = None) -> int:
        """Wait up to ``wait`` seconds for the model: 0 once admitted, the queue position
        (1 = next) while waiting, -1 if cancelled (the ticket is then released)."""
        return self.queue._poll(self, wait, cancel)

    def release(self) -> None:
        self.queue._release(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ModelQueue:
    """FIFO admission to ``slots`` model slots, with at most ``max_waiting`` waiting."""

    def __init__(
        self,
        *,
        max_waiting: int = 16,
        retry_after: int = 10,
        abandon_after_s: float = 30.0,
        slots: int | Callable[[], int] = 1,
    ) -> None:
        if not callable(slots) and slots < 1:
            raise ValueError("a queue needs at least one slot")
        #: a number, or what the model serving the queue says now (PARALLEL=auto decides
        #: when its worker starts)
        self._slots = slots
        self.max_waiting = max_waiting
        self.retry_after = retry_after
        self.abandon_after_s = abandon_after_s
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._holders: set[Ticket] = set()
        self._numbers = itertools.count(1)
        self.served = 0

    @property
    def slots(self) -> int:
        return max(1, int(self._slots() if callable(self._slots) else self._slots))

    @property
    def depth(self) -> int:
        with self._cond:
            return len(self._waiting) + len(self._holders)

    @property
    def running(self) -> int:
        """Answers holding a slot now."""
        with self._cond:
            return len(self._holders)

    def enter(self) -> Ticket:
        """Take a place in the queue, or raise ``QueueFull`` at once."""
        with self._cond:
            self._drop_abandoned()
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(
                    f"the assistant is busy ({len(self._waiting)} questions waiting)",
                    retry_after=self.retry_after,
                )
            ticket = Ticket(self, next(self._numbers))
            self._waiting.append(ticket)
            return ticket

    def position(self, ticket: Ticket) -> int:
        """1 = next to run; 0 = running."""
        with self._cond:
            if ticket in self._holders:
                return 0
            try:
                return self._waiting.index(ticket) + 1
            except ValueError:
                return 0

    def _poll(self, ticket: Ticket, wait: float, cancel: threading.Event | None) -> int:
        deadline = time.monotonic() + wait
        with self._cond:
            ticket.last_seen = time.monotonic()
            self._drop_abandoned()
            while True:
                if ticket.admitted and not ticket.released:
                    return 0
                if ticket.released or (cancel is not None and cancel.is_set()):
                    self._drop(ticket)
                    return -1
                free = len(self._holders) < self.slots
                if free and self._waiting and self._waiting[0] is ticket:
                    self._waiting.popleft()
                    self._holders.add(ticket)
                    ticket.admitted = True
                    self._cond.notify_all()  # the next in line may take another free slot
                    return 0
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._waiting.index(ticket) + 1
                self._cond.wait(timeout=min(remaining, 0.25))

    def _drop_abandoned(self) -> None:
        """Forget waiting tickets whose request went away before it ever polled (a client
        that hung up before its stream started): they must not block the queue for good."""
        now = time.monotonic()
        for t in [t for t in self._waiting if now - t.last_seen > self.abandon_after_s]:
            self._drop(t)

    def _drop(self, ticket: Ticket) -> None:
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        ticket.released = True
        self._cond.notify_all()

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket.released:
                return
            if ticket in self._holders:
                self._holders.discard(ticket)
                self.served += 1
            self._drop(ticket)
