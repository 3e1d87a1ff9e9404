"""Token events merged on their way to the client: same text, same order, first one at once."""

from __future__ import annotations

from assistant.answering.service import DoneEvent, Event, SourcesEvent, TokenEvent
from assistant.domain import Answer
from assistant.server.coalesce import coalesce_tokens


def _events() -> list[Event]:
    done = DoneEvent(Answer("q", "Hello world [1].", False, [], [], "c", {}), [])
    tokens: list[Event] = [TokenEvent(t) for t in ("Hello", " world", " [1]", ".")]
    return [SourcesEvent([]), *tokens, done]


def test_zero_interval_passes_every_event_through() -> None:
    events = _events()
    assert list(coalesce_tokens(events, 0)) == events


def test_close_tokens_are_merged_and_precede_the_done_event() -> None:
    out = list(coalesce_tokens(_events(), 3600.0))
    kinds = [e.kind for e in out]
    assert kinds == ["sources", "token", "token", "done"]
    texts = [e.text for e in out if isinstance(e, TokenEvent)]
    assert texts == ["Hello", " world [1]."]  # the first token is never held


def test_held_text_is_flushed_when_the_stream_ends_without_a_done_event() -> None:
    tokens = [TokenEvent(t) for t in ("a", "b", "c")]
    out = list(coalesce_tokens(tokens, 3600.0))
    assert "".join(e.text for e in out if isinstance(e, TokenEvent)) == "abc"
    assert len(out) == 2
