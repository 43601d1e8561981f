"""`kill -9` of `rag serve` while conversations are being answered and saved: the database opens
intact and holds every turn whose answer a client received."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading

import httpx

from tests.conftest import NEWS_FR, wait_until

from .conftest import ARTICLE_QUESTION, HTTP, Served

WRITERS = 4


def test_kill_9_of_the_server_keeps_every_answered_turn(tmp_path, real_embedder):
    from rag import RAG
    from rag.conversations import Conversations

    shutil.copytree(NEWS_FR, tmp_path / "news")
    with RAG(data_dir=tmp_path / "data", embedder=real_embedder) as rag:
        assert rag.ingest([tmp_path / "news"]).added
    server = Served(tmp_path / "data", tmp_path / "serve.log")
    wait_until(server.ready, timeout=180, what="rag serve answers /api/health")
    ids = [HTTP.post(f"{server.url}/api/conversations", json={}, headers=server.headers()).json()["id"]
           for _ in range(WRITERS)]
    answered: dict[str, list[str]] = {i: [] for i in ids}
    refused: list[str] = []

    def write(conversation: str) -> None:
        """Ask in the conversation until the server is gone; note each question answered."""
        n = 0
        while True:
            question = f"Question {n}: {ARTICLE_QUESTION}"
            try:
                reply = HTTP.post(f"{server.url}/api/conversations/{conversation}/ask",
                                  json={"question": question}, headers=server.headers())
            except httpx.TransportError:
                return
            if reply.status_code != 200:
                refused.append(reply.text)
                return
            answered[conversation].append(question)
            n += 1

    writers = [threading.Thread(target=write, args=(i,)) for i in ids]
    for w in writers:
        w.start()
    wait_until(lambda: sum(map(len, answered.values())) >= 12, timeout=300, what="12 turns answered")
    os.kill(server.process.pid, signal.SIGKILL)  # while the others are being answered and written
    server.process.wait()
    for w in writers:
        w.join(timeout=120)
    assert not refused

    path = tmp_path / "data" / "conversations.sqlite3"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Conversations(path)
    for conversation, questions in answered.items():
        saved = [t.question for t in store.get("local", conversation).turns]
        assert saved[:len(questions)] == questions  # every answered turn, in order
        assert len(saved) <= len(questions) + 1  # at most the one being answered besides
        assert all(t.answer["citations"] for t in store.get("local", conversation).turns)
