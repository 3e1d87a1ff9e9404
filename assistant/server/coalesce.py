"""Merge the answer's token events into at most one per ``interval_s`` on their way out.

Why: on a 2-core server llama.cpp keeps both cores busy while it decodes, and
every token event that crosses to the event loop wakes two more threads (the
loop that encodes the server-sent event, and whoever reads the socket) that
pre-empt a decoding thread. At 60+ tokens a second that cost the smallest model
~12% of its decode rate against llama-cpp-python alone (docs/BENCHMARKS.md,
generation). Nobody reads faster than 20 updates a second, so tokens that come
sooner than ``interval_s`` after the last event sent are held and sent together
with the next one. The first token always goes at once (time to first token is
untouched); held text never waits past the next event or the end of the answer.
A slow model (the 1.5B decodes ~13 tokens a second) is never held at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from assistant.answering.service import Event, TokenEvent


def coalesce_tokens(events: Iterable[Event], interval_s: float) -> Iterator[Event]:
    """``events`` with runs of close ``TokenEvent``s merged; other events pass at once."""
    if interval_s <= 0:
        yield from events
        return
    held: list[str] = []
    last_sent = float("-inf")
    for event in events:
        if isinstance(event, TokenEvent):
            held.append(event.text)
            now = time.monotonic()
            if now - last_sent < interval_s:
                continue
            last_sent = now
            yield TokenEvent("".join(held))
            held.clear()
            continue
        if held:  # the answer's text always precedes what follows it (the done event)
            yield TokenEvent("".join(held))
            held.clear()
        yield event
    if held:
        yield TokenEvent("".join(held))
