"""Conversations: ids and their recent turns, so follow-up questions keep their context.

Kept in memory, bounded in turns, conversations and age: question texts are
personal data, and the audit log (not this cache) is the record of what was asked. A
conversation reopened from the saved history (answering/history.py) is read from there.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    standalone: str
    answer: str


class Conversations:
    def __init__(
        self,
        *,
        max_turns: int = 6,
        max_conversations: int = 2000,
        ttl_s: float = 3600,
        loader: Callable[[str], list[Turn]] | None = None,
    ) -> None:
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        self.ttl_s = ttl_s
        #: a conversation not (or no longer) in memory, from the saved history (history.py)
        self.loader = loader
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[float, list[Turn]]] = OrderedDict()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def history(self, conversation_id: str | None) -> list[Turn]:
        if not conversation_id:
            return []
        with self._lock:
            entry = self._data.get(conversation_id)
            if entry is not None and time.monotonic() - entry[0] <= self.ttl_s:
                return list(entry[1])
        if self.loader is None:
            return []
        return self.loader(conversation_id)[-self.max_turns :]

    def add(self, conversation_id: str, turn: Turn) -> None:
        with self._lock:
            _, turns = self._data.pop(conversation_id, (0.0, []))
            turns = [*turns, turn][-self.max_turns :]
            self._data[conversation_id] = (time.monotonic(), turns)
            while len(self._data) > self.max_conversations:
                self._data.popitem(last=False)


_FOLLOW_UP_START = re.compile(
    r"^(and|or|but|also|what about|how about|and what about|what if|same for|then)\b", re.I
)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|that|this|those|these|he|she)\b", re.I)
_CUE = re.compile(r"\b(then|too|instead|as well|either)\b", re.I)
_WORD = re.compile(r"\w+")


def is_follow_up(question: str) -> bool:
    """A cheap test: short, and either opens like a continuation or leans on a pronoun."""
    words = _WORD.findall(question)
    if len(words) > 12:
        return False
    return bool(_FOLLOW_UP_START.match(question.strip())) or (
        len(words) <= 8 and bool(_PRONOUN.search(question) or _CUE.search(question))
    )


def standalone_question(question: str, history: list[Turn]) -> str:
    """Rewrite a follow-up into a standalone question by carrying the previous one along.

    "And for contractors?" after "How many days of leave do employees get?"
    becomes "How many days of leave do employees get? And for contractors?",
    which both retrieval and the model can answer without the conversation.
    """
    if not history or not is_follow_up(question):
        return question
    previous = history[-1].standalone.rstrip()
    if previous[-1:] not in "?.!":
        previous += "?"
    return f"{previous} {question.strip()}"
