"""Each user's past conversations, kept so they can be listed, reopened, renamed, deleted.

Personal data, so never in the audit log's hash chain: a SQLite file of its own
(``DATA_DIR/history.sqlite``), each row its user's. It is written after each answer, by
the service's observers, with what the user was shown: the question, the answer's JSON
and its sources (masked where the collection says: answering/redaction.py). Reopening a
conversation gives the page everything to draw it again, and a follow-up asked then is
read against its turns (``turns``: the follow-up rewriting of conversations.py), also
after a restart. Signing out ends a session, never a conversation.

Deleting a conversation deletes its texts; ``assistant audit erase-subject USER`` erases
all of a user's; conversations untouched for ``history_retention_days`` are purged.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from assistant.answering.conversations import Turn
from assistant.answering.events import DoneEvent
from assistant.domain import utcnow
from assistant.errors import InvalidInput, NotFound
from assistant.store import sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    user TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (user, id)
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated);
CREATE TABLE IF NOT EXISTS turns (
    user TEXT NOT NULL,
    conversation TEXT NOT NULL,
    n INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone TEXT NOT NULL,
    shown TEXT NOT NULL,  -- JSON: {"answer": Answer.to_dict(), "sources": [...]}
    at TEXT NOT NULL,
    PRIMARY KEY (user, conversation, n)
);
"""
TITLE_CHARS = 80


def _title(question: str) -> str:
    words = " ".join(question.split())
    return words if len(words) <= TITLE_CHARS else words[: TITLE_CHARS - 1] + "…"


class ChatHistory:
    def __init__(self, path: Path, *, retention_days: float = 90.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite.connect(path, secure_delete=True)  # erased texts are overwritten
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.retention_days = retention_days
        self.purge()

    def record(self, user: str, done: DoneEvent) -> None:
        """An observer of the answering service: keep the turn the user was just shown."""
        answer = done.answer
        cid = answer.conversation_id
        if not cid:
            return
        now = utcnow().isoformat()
        shown = {"answer": answer.to_dict(), "sources": [s.to_dict() for s in answer.sources]}
        with sqlite.transaction(self._db, self._lock):
            self._db.execute(
                "INSERT INTO conversations (user, id, title, created, updated) VALUES "
                "(?, ?, ?, ?, ?) ON CONFLICT(user, id) DO UPDATE SET updated = excluded.updated",
                (user, cid, _title(answer.question), now, now),
            )
            n = self._db.execute(
                "SELECT coalesce(max(n), 0) + 1 FROM turns WHERE user = ? AND conversation = ?",
                (user, cid),
            ).fetchone()[0]
            self._db.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    user,
                    cid,
                    n,
                    answer.question,
                    done.standalone or answer.question,
                    json.dumps(shown, ensure_ascii=False),
                    now,
                ),
            )

    def turns(self, user: str, cid: str) -> list[Turn]:
        """The conversation's turns, for the follow-up rewriting (oldest first)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT question, standalone, shown FROM turns WHERE user = ? AND conversation = ? "
                "ORDER BY n",
                (user, cid),
            ).fetchall()
        return [Turn(q, s, json.loads(shown)["answer"]["answer"]) for q, s, shown in rows]

    def list(self, user: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """The user's conversations, most recent first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, "
                "(SELECT count(*) FROM turns t WHERE t.user = c.user AND t.conversation = c.id) "
                "FROM conversations c WHERE c.user = ? ORDER BY c.updated DESC LIMIT ?",
                (user, limit),
            ).fetchall()
        keys = ("id", "title", "created", "updated", "turns")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def get(self, user: str, cid: str) -> dict[str, Any]:
        """One conversation with every turn as it was shown; NotFound if not ``user``'s."""
        with self._lock:
            head = self._db.execute(
                "SELECT id, title, created, updated FROM conversations WHERE user = ? AND id = ?",
                (user, cid),
            ).fetchone()
            rows = self._db.execute(
                "SELECT question, shown, at FROM turns WHERE user = ? AND conversation = ? "
                "ORDER BY n",
                (user, cid),
            ).fetchall()
        if head is None:
            raise NotFound("no such conversation of yours")
        turns = [{"question": q, **json.loads(shown), "at": at} for q, shown, at in rows]
        return {
            "id": head[0],
            "title": head[1],
            "created": head[2],
            "updated": head[3],
            "turns": turns,
        }

    def rename(self, user: str, cid: str, title: str) -> None:
        title = " ".join(title.split())[:200]
        if not title:
            raise InvalidInput("a conversation needs a title")
        with sqlite.transaction(self._db, self._lock):
            changed = self._db.execute(
                "UPDATE conversations SET title = ? WHERE user = ? AND id = ?", (title, user, cid)
            ).rowcount
        if not changed:
            raise NotFound("no such conversation of yours")

    def delete(self, user: str, cid: str) -> None:
        with sqlite.transaction(self._db, self._lock):
            self._db.execute("DELETE FROM turns WHERE user = ? AND conversation = ?", (user, cid))
            gone = self._db.execute(
                "DELETE FROM conversations WHERE user = ? AND id = ?", (user, cid)
            ).rowcount
        if not gone:
            raise NotFound("no such conversation of yours")

    def erase_user(self, user: str) -> int:
        """Every conversation of ``user``, gone (a data subject's erasure); how many."""
        with sqlite.transaction(self._db, self._lock):
            self._db.execute("DELETE FROM turns WHERE user = ?", (user,))
            return int(
                self._db.execute("DELETE FROM conversations WHERE user = ?", (user,)).rowcount
            )

    def purge(self) -> int:
        """Conversations untouched for ``retention_days``, gone; how many."""
        cutoff = (utcnow() - timedelta(days=self.retention_days)).isoformat()
        with sqlite.transaction(self._db, self._lock):
            old = self._db.execute(
                "SELECT user, id FROM conversations WHERE updated < ?", (cutoff,)
            ).fetchall()
            for user, cid in old:
                self._db.execute(
                    "DELETE FROM turns WHERE user = ? AND conversation = ?", (user, cid)
                )
                self._db.execute("DELETE FROM conversations WHERE user = ? AND id = ?", (user, cid))
        return len(old)

    def close(self) -> None:
        with self._lock:
            self._db.close()
