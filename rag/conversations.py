"""Saved conversations: each user's questions and answers, stored with their citations as data
(``Answer.to_dict()``) in SQLite (WAL) at ``data_dir/conversations.sqlite3``, so a reload or a
restart brings a conversation back with every answer's sources, never computed again.

Every call names its user: a conversation of another user is unknown (the interfaces answer 404,
never its data). A turn is written in one transaction once its answer is complete, so a crash
(``kill -9``) loses at most the turn being answered."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

LOCAL_USER = "local"
"""The one user of an interface without logins or keys of users."""
FILE = "conversations.sqlite3"
TITLE_CHARS = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, collection TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations (user, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    n INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (conversation, n));
"""


class UnknownConversationError(UsageError):
    """No conversation of this id for this user."""


@dataclass(frozen=True)
class Turn:
    """A question and its answer, as ``Answer.to_dict()`` gave it when it was asked."""

    question: str
    answer: dict
    created: float


@dataclass(frozen=True)
class Conversation:
    id: str
    user: str
    collection: str
    title: str
    created: float
    updated: float
    turns: list[Turn] = field(default_factory=list)

    def history(self) -> list[dict]:
        """The turns as ``rag.ask``'s ``history``: role/content messages."""
        return [m for t in self.turns for m in ({"role": "user", "content": t.question},
                                                 {"role": "assistant", "content": t.answer["text"]})]


class Conversations:
    """The conversations of one data dir (of all its collections)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self):
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            with db:  # one transaction
                yield db

    def create(self, user: str, collection: str, title: str = "") -> Conversation:
        now = time.time()
        conversation = Conversation(secrets.token_hex(8), user, collection, _title(title), now, now)
        with self._db() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation.id, user, collection, conversation.title, now, now))
        return conversation

    def list(self, user: str) -> list[Conversation]:
        """The user's conversations, the latest first (without their turns)."""
        with self._db() as db:
            rows = db.execute("SELECT id, user, collection, title, created, updated FROM conversations "
                              "WHERE user = ? ORDER BY updated DESC, created DESC", (user,)).fetchall()
        return [Conversation(*row) for row in rows]

    def get(self, user: str, conversation_id: str) -> Conversation:
        with self._db() as db:
            row = self._row(db, user, conversation_id)
            turns = db.execute("SELECT question, answer, created FROM turns WHERE conversation = ? "
                               "ORDER BY n", (conversation_id,)).fetchall()
        return Conversation(*row, turns=[Turn(q, json.loads(a), c) for q, a, c in turns])

    def add_turn(self, user: str, conversation_id: str, question: str, answer: dict) -> Turn:
        """Store a completed turn; the first one names an untitled conversation."""
        now = time.time()
        with self._db() as db:
            row = self._row(db, user, conversation_id)
            # its number computed in the insert itself: two turns saved at once never take the same
            db.execute("INSERT INTO turns SELECT ?, COALESCE(MAX(n) + 1, 0), ?, ?, ? FROM turns "
                       "WHERE conversation = ?",
                       (conversation_id, question, json.dumps(answer, ensure_ascii=False), now, conversation_id))
            db.execute("UPDATE conversations SET updated = ?, title = ? WHERE id = ?",
                       (now, row[3] or _title(question), conversation_id))
        return Turn(question, answer, now)

    def rename(self, user: str, conversation_id: str, title: str) -> Conversation:
        if not title.strip():
            raise UsageError("a conversation's title cannot be empty")
        with self._db() as db:
            self._row(db, user, conversation_id)
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (_title(title), conversation_id))
        return self.get(user, conversation_id)

    def delete(self, user: str, conversation_id: str) -> None:
        with self._db() as db:
            self._row(db, user, conversation_id)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def using(self, collection: str) -> int:
        """How many conversations (of any user) ask ``collection``."""
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM conversations WHERE collection = ?", (collection,)).fetchone()[0]

    @staticmethod
    def _row(db, user: str, conversation_id: str) -> tuple:
        row = db.execute("SELECT id, user, collection, title, created, updated FROM conversations "
                         "WHERE id = ? AND user = ?", (conversation_id, user)).fetchone()
        if row is None:
            raise UnknownConversationError(f"no conversation {conversation_id!r} (`rag conversations` "
                                           "lists yours)")
        return row


def _title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def to_json(conversation: Conversation) -> dict:
    """The conversation as JSON data: its fields and each turn's question and answer."""
    return {"id": conversation.id, "title": conversation.title, "collection": conversation.collection,
            "created": conversation.created, "updated": conversation.updated,
            "turns": [{"question": t.question, "answer": t.answer, "created": t.created}
                      for t in conversation.turns]}


def to_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown: each question, its answer, then its numbered sources with
    their quotes."""
    lines = [f"# {conversation.title or 'Conversation'}", "",
             f"Collection `{conversation.collection}`, {len(conversation.turns)} questions.", ""]
    for t in conversation.turns:
        lines += [f"## {t.question}", "", t.answer["text"] or "_(no answer)_", ""]
        for c in t.answer.get("citations", []):
            where = f"{c['source']}:{c['start']}-{c['end']}" + (f", page {c['page']}" if c.get("page") else "")
            head = f"[{c['number']}] {c.get('title') or Path(c['source']).name}" + (f" ({c['date']})" if c.get("date") else "")
            lines += [f"{head}, {where}", "", "> " + c["quote"].replace("\n", "\n> "), ""]
    return "\n".join(lines).rstrip() + "\n"
