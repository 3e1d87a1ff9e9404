"""A user's saved conversations: list, reopen, rename, delete (assistant/answering/history.py).

Thin; each call is scoped to the signed-in user, and another user's conversation is "not
found", never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, delete, get, patch

from assistant.answering.history import ChatHistory
from assistant.auth.principal import Principal


@dataclass
class RenameRequest:
    title: str


class HistoryController(Controller):
    path = "/api/conversations"
    tags = ["history"]

    @get("/", sync_to_thread=True, summary="Your saved conversations, most recent first")
    def list_conversations(
        self, history: ChatHistory, principal: Principal
    ) -> list[dict[str, Any]]:
        return history.list(principal.user)

    @get("/{cid:str}", sync_to_thread=True, summary="One conversation, every turn as shown")
    def conversation(self, cid: str, history: ChatHistory, principal: Principal) -> dict[str, Any]:
        return history.get(principal.user, cid)

    @patch("/{cid:str}", sync_to_thread=True, summary="Rename a conversation")
    def rename(
        self, cid: str, data: RenameRequest, history: ChatHistory, principal: Principal
    ) -> dict[str, Any]:
        history.rename(principal.user, cid, data.title)
        return {"id": cid, "title": " ".join(data.title.split())[:200]}

    @delete("/{cid:str}", sync_to_thread=True, summary="Delete a conversation and its texts")
    def remove(self, cid: str, history: ChatHistory, principal: Principal) -> None:
        history.delete(principal.user, cid)
