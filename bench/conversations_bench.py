"""Saved conversations at scale: listing a user's conversations and resuming one, against a
plain ``SELECT`` of the same rows.

The store (``rag.conversations.Conversations``) holds ``--users`` users (default 10) with
``--conversations`` conversations each (default 1,000) of ``--turns`` turns (default 20): each
answer a realistic ``Answer.to_dict()`` (a few sentences, three citations with their quotes). It
is filled in one transaction with the store's own schema, then, over ``--runs`` calls (default
50) for users and conversations picked at random (seeded):

* list: ``store.list(user)`` (every conversation of the user, the latest first) against the
  ``SELECT`` of the same columns and rows;
* resume: ``store.get(user, id)`` (the conversation and its turns, each answer decoded from
  JSON) against the ``SELECT`` of the same rows, undecoded;
* render: the web chat's ``ui.conversations.restored`` (the chat messages and the last answer's
  sources panel) of the same conversation: what a resumed page shows.

Printed: p50 and p95 of each, and the ratio of the store's p50 to the plain ``SELECT``'s.

Run from the repository root:
    python -m bench.conversations_bench [--users 10] [--conversations 1000] [--turns 20] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

from rag.conversations import Conversations

QUOTE = ("Le chef de la diplomatie russe a indiqué que les discussions avec Washington sur les "
         "garanties de sécurité commenceraient immédiatement après les congés du Nouvel An.")


def answer(i: int) -> dict:
    citations = [{"number": n, "source": f"/docs/news/article-{i % 97}-{n}.txt", "title": f"Article {n}",
                  "date": "2021-12", "page": None, "section": None, "start": 100 * n, "end": 100 * n + len(QUOTE),
                  "quote": QUOTE, "score": 0.8} for n in (1, 2, 3)]
    return {"text": f"{QUOTE} [1] Les pourparlers porteront sur l'OTAN. [2] Réponse {i}. [3]",
            "citations": citations, "abstained": False, "query": f"question {i}", "unsupported": []}


def fill(path: Path, users: int, conversations: int, turns: int) -> None:
    Conversations(path)  # the schema
    now = time.time()
    with closing(sqlite3.connect(path)) as db, db:
        for u in range(users):
            rows, turn_rows = [], []
            for c in range(conversations):
                cid = f"{u:04d}{c:012d}"
                rows.append((cid, f"user{u}", "default", f"Conversation {c}", now + c, now + c))
                turn_rows += [(cid, n, f"question {c} {n}", json.dumps(answer(n), ensure_ascii=False), now + c)
                              for n in range(turns)]
            db.executemany("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO turns VALUES (?, ?, ?, ?, ?)", turn_rows)


def timed(call, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        t0 = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - t0)
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=1000, help="per user")
    parser.add_argument("--turns", type=int, default=20, help="per conversation")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from rag import RAG
    from ui.conversations import restored

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conversations.sqlite3"
        t0 = time.perf_counter()
        fill(path, args.users, args.conversations, args.turns)
        size = path.stat().st_size / 2**20
        print(f"# conversations_bench: {args.users} users x {args.conversations} conversations x "
              f"{args.turns} turns, filled in {time.perf_counter() - t0:.1f} s ({size:.0f} MiB); "
              f"{args.runs} calls each")
        rag = RAG(data_dir=Path(tmp))
        store = rag.conversations
        rng = random.Random(0)
        picks = [(f"user{rng.randrange(args.users)}", rng.randrange(args.conversations)) for _ in range(args.runs)]
        ids = [(user, f"{int(user[4:]):04d}{c:012d}") for user, c in picks]
        db = sqlite3.connect(path)

        def plain_list(i):
            return db.execute("SELECT id, user, collection, title, created, updated FROM conversations "
                              "WHERE user = ? ORDER BY updated DESC, created DESC", (picks[i][0],)).fetchall()

        def plain_resume(i):
            user, cid = ids[i]
            head = db.execute("SELECT id, user, collection, title, created, updated FROM conversations "
                              "WHERE id = ? AND user = ?", (cid, user)).fetchone()
            return head, db.execute("SELECT question, answer, created FROM turns WHERE conversation = ? "
                                    "ORDER BY n", (cid,)).fetchall()

        assert len(store.list(picks[0][0])) == len(plain_list(0)) == args.conversations
        assert len(store.get(*ids[0]).turns) == len(plain_resume(0)[1]) == args.turns
        results = {
            "list (store.list)": timed(lambda i: store.list(picks[i][0]), args.runs),
            "list (plain SELECT)": timed(plain_list, args.runs),
            "resume (store.get)": timed(lambda i: store.get(*ids[i]), args.runs),
            "resume (plain SELECT)": timed(plain_resume, args.runs),
            "render (restored)": timed(lambda i: restored(rag, *ids[i]), args.runs),
        }
        db.close()
    print(f"  {'':24}{'p50 ms':>10}{'p95 ms':>10}")
    for name, values in results.items():
        print(f"  {name:<24}{p(values, 0.5):>10.2f}{p(values, 0.95):>10.2f}")
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"  list: store / plain SELECT p50 {med['list (store.list)'] / med['list (plain SELECT)']:.2f}x; "
          f"resume: {med['resume (store.get)'] / med['resume (plain SELECT)']:.2f}x")


if __name__ == "__main__":
    main()
