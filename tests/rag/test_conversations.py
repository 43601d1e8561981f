"""Saved conversations: per user, in SQLite, with every answer's citations stored as data; on
real files, real Chroma and the real model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag.conversations import UnknownConversationError, to_json, to_markdown
from rag.errors import UsageError
from tests.rag.conftest import ARTICLE_QUESTION

ROOT = Path(__file__).resolve().parents[2]


def test_a_conversation_keeps_its_turns_and_their_citations_as_data(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    c = rag.conversations.create("ana", "default")
    first = rag.converse(c.id, ARTICLE_QUESTION, user="ana")
    follow = rag.converse(c.id, "Et avec l'OTAN ?", user="ana")
    assert follow.query == f"{ARTICLE_QUESTION} Et avec l'OTAN ?"  # the saved turn is the history

    rag.remove([article])  # the index changes; the saved answers do not
    saved = make_rag().conversations.get("ana", c.id)  # another RAG over the same data dir
    assert saved.title == ARTICLE_QUESTION and saved.collection == "default"
    assert [t.question for t in saved.turns] == [ARTICLE_QUESTION, "Et avec l'OTAN ?"]
    assert [t.answer for t in saved.turns] == [first.to_dict(), follow.to_dict()]
    assert saved.turns[0].answer["citations"] and not saved.turns[0].answer["abstained"]


def test_each_user_sees_only_their_own(make_rag):
    store = make_rag().conversations
    mine = store.create("ana", "default", "Mine")
    theirs = store.create("bob", "default", "Theirs")
    assert [c.id for c in store.list("ana")] == [mine.id]
    for call in (lambda: store.get("ana", theirs.id), lambda: store.rename("ana", theirs.id, "x"),
                 lambda: store.delete("ana", theirs.id),
                 lambda: store.add_turn("ana", theirs.id, "q", {"text": "a", "citations": []})):
        with pytest.raises(UnknownConversationError, match=f"no conversation '{theirs.id}'"):
            call()
    assert store.get("bob", theirs.id).title == "Theirs" and store.get("bob", theirs.id).turns == []
    assert store.rename("ana", mine.id, "  Renamed   twice ").title == "Renamed twice"
    with pytest.raises(UsageError, match="cannot be empty"):
        store.rename("ana", mine.id, " ")
    store.delete("ana", mine.id)
    assert store.list("ana") == [] and [c.id for c in store.list("bob")] == [theirs.id]


def test_exports_hold_each_answer_with_its_numbered_sources(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    c = rag.conversations.create("local", "default")
    answer = rag.converse(c.id, ARTICLE_QUESTION)
    saved = rag.conversations.get("local", c.id)
    markdown = to_markdown(saved)
    assert markdown.startswith(f"# {ARTICLE_QUESTION}\n") and f"## {ARTICLE_QUESTION}" in markdown
    assert answer.text in markdown
    for cite in answer.citations:
        assert f"[{cite.number}] {cite.title}" in markdown and f"{cite.source}:{cite.start}-{cite.end}" in markdown
        assert "> " + cite.quote.replace("\n", "\n> ") in markdown
    data = json.loads(json.dumps(to_json(saved)))
    assert data["turns"][0]["answer"] == answer.to_dict() and data["collection"] == "default"


def test_a_collection_a_conversation_uses_is_not_deleted(make_rag):
    rag = make_rag()
    rag.create_collection("notes")
    c = rag.conversations.create("local", "notes")
    with pytest.raises(UsageError, match="used by 1 saved conversation"):
        rag.delete_collection("notes")
    assert "notes" in rag.collection_names() and rag.conversations.get("local", c.id)
    rag.conversations.delete("local", c.id)
    rag.delete_collection("notes")
    assert rag.collection_names() == ["default"]


WRITER = """
import sys
from rag.conversations import Conversations
store = Conversations(sys.argv[1])
c = store.create("local", "default")
print(c.id, flush=True)
answer = {"text": "A long answer [1]. " * 200, "citations": [{"number": 1, "quote": "q" * 2000}]}
n = 0
while True:
    store.add_turn("local", c.id, f"question {n}", answer)
    n += 1
    print(n, flush=True)
"""


def test_kill_9_during_a_write_keeps_every_completed_turn(tmp_path):
    from rag.conversations import Conversations

    path = tmp_path / "conversations.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    conversation_id = child.stdout.readline().strip()
    done = 0
    while done < 30:
        done = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    turns = Conversations(path).get("local", conversation_id).turns
    assert len(turns) >= done  # every turn it reported (one more may have committed since)
    assert [t.question for t in turns] == [f"question {n}" for n in range(len(turns))]


def test_turns_saved_at_once_from_many_threads_are_all_kept(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from rag.conversations import Conversations

    store = Conversations(tmp_path / "conversations.sqlite3")
    ana, bob = store.create("ana", "default"), store.create("bob", "default")
    jobs = [(user, c.id, f"{user} {i}") for i in range(20) for user, c in (("ana", ana), ("bob", bob))]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: store.add_turn(*job, {"text": job[2], "citations": []}), jobs))
    for user, c in (("ana", ana), ("bob", bob)):
        turns = store.get(user, c.id).turns
        assert sorted(t.question for t in turns) == sorted(f"{user} {i}" for i in range(20))
        assert all(t.answer["text"] == t.question for t in turns)  # no cross-talk
