"""Saved conversations: each user's questions and answers, stored with their citations as data
(``Answer.to_dict()``) in SQLite (WAL) at ``data_dir/conversations.sqlite3``, so a reload or a
restart brings a conversation back with every answer's sources, never computed again.

Every call names its user: a conversation of another user is unknown (the interfaces answer 404,
never its data). Feedback on an answer (``rate``) is stored with a copy of its question, answer
and collection, so ``rag feedback export`` can make an evaluation set of it. A turn is written in
one transaction once its answer is complete, so a crash (``kill -9``) loses at most the turn
being answered."""

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
CREATE TABLE IF NOT EXISTS feedback (
    conversation TEXT NOT NULL, n INTEGER NOT NULL, user TEXT NOT NULL, collection TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (conversation, n));
"""
RATINGS = ("up", "down")
COMMENT_CHARS = 2000


class UnknownConversationError(UsageError):
    """No conversation of this id for this user."""


@dataclass(frozen=True)
class Turn:
    """A question and its answer, as ``Answer.to_dict()`` gave it when it was asked."""

    question: str
    answer: dict
    created: float
    number: int = 0
    """Its position in the conversation, from 0 (what ``rate`` takes)."""
    rating: str | None = None
    """The user's rating of the answer ('up' or 'down'), if they gave one."""


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


@dataclass(frozen=True)
class Feedback:
    """A user's thumbs up or down on one answer, with its question, answer (citations included)
    and collection as they were: kept when the conversation is deleted."""

    conversation: str
    turn: int
    user: str
    collection: str
    rating: str
    comment: str
    question: str
    answer: dict
    created: float


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
            turns = db.execute("SELECT t.question, t.answer, t.created, t.n, f.rating FROM turns t "
                               "LEFT JOIN feedback f ON f.conversation = t.conversation AND f.n = t.n "
                               "WHERE t.conversation = ? ORDER BY t.n", (conversation_id,)).fetchall()
        return Conversation(*row, turns=[Turn(q, json.loads(a), c, n, r) for q, a, c, n, r in turns])

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
            number = db.execute("SELECT MAX(n) FROM turns WHERE conversation = ?", (conversation_id,)).fetchone()[0]
        return Turn(question, answer, now, number)

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

    def rate(self, user: str, conversation_id: str, turn: int, rating: str, comment: str = "") -> Feedback:
        """Record ``user``'s ``rating`` ('up' or 'down') of turn ``turn`` (from 0) of their
        conversation, with an optional comment; rating it again replaces the earlier one."""
        if rating not in RATINGS:
            raise UsageError(f"a rating is 'up' or 'down', not {rating!r}")
        if len(comment) > COMMENT_CHARS:
            raise UsageError(f"a comment has at most {COMMENT_CHARS} characters, this one {len(comment)}")
        with self._db() as db:
            collection = self._row(db, user, conversation_id)[2]
            row = db.execute("SELECT question, answer FROM turns WHERE conversation = ? AND n = ?",
                             (conversation_id, turn)).fetchone()
            if row is None:
                count = db.execute("SELECT COUNT(*) FROM turns WHERE conversation = ?", (conversation_id,)).fetchone()[0]
                raise UnknownConversationError(f"conversation {conversation_id!r} has no turn {turn} "
                                               f"(its turns are numbered from 0; it has {count})")
            given = Feedback(conversation_id, turn, user, collection, rating, comment.strip(),
                             row[0], json.loads(row[1]), time.time())
            db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (given.conversation, given.turn, user, given.collection, rating, given.comment,
                        given.question, row[1], given.created))
        return given

    def feedback(self, user: str | None = None) -> list[Feedback]:
        """The feedback given (by ``user``; default: by everyone), the oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM feedback WHERE ? IS NULL OR user = ? ORDER BY created",
                              (user, user)).fetchall()
        return [Feedback(*row[:7], json.loads(row[7]), row[8]) for row in rows]

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
