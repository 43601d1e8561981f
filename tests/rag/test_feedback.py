"""Feedback on answers: stored with their question, answer and collection, per user, and exported
by `rag feedback export` as a `rag eval` set that evaluates as it was rated; on real files, real
Chroma and the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.conversations import UnknownConversationError
from rag.errors import UsageError
from tests.rag.conftest import ARTICLE_QUESTION

OFF_CORPUS = "Quelle est la recette de la tarte Tatin ?"


@pytest.fixture
def rated(make_rag, article):
    """Ana's conversation: the article question rated up with a comment, an off-corpus question
    (abstained) rated up, a follow-up rated down."""
    rag = make_rag()
    rag.ingest([article])
    c = rag.conversations.create("ana", "default")
    for question in (ARTICLE_QUESTION, OFF_CORPUS, "Et avec l'OTAN ?"):
        rag.converse(c.id, question, user="ana")
    rag.conversations.rate("ana", c.id, 0, "down")
    rag.conversations.rate("ana", c.id, 0, "up", "  the right date  ")  # replaces the first rating
    rag.conversations.rate("ana", c.id, 1, "up")
    rag.conversations.rate("ana", c.id, 2, "down", "it missed NATO")
    return rag, c


def test_a_rating_is_stored_with_its_question_answer_and_collection(rated):
    rag, c = rated
    given = rag.conversations.feedback()
    assert [(f.turn, f.rating, f.comment) for f in given] == [(0, "up", "the right date"), (1, "up", ""), (2, "down", "it missed NATO")]
    first = next(f for f in given if f.turn == 0)
    assert first.question == ARTICLE_QUESTION and first.collection == "default" and first.user == "ana"
    assert first.answer == rag.conversations.get("ana", c.id).turns[0].answer and first.answer["citations"]
    assert rag.conversations.feedback("bob") == []
    assert [t.rating for t in rag.conversations.get("ana", c.id).turns] == ["up", "up", "down"]  # shown on resume
    rag.conversations.delete("ana", c.id)
    assert len(rag.conversations.feedback("ana")) == 3  # the feedback outlives its conversation


@pytest.mark.parametrize("call, error, message", [
    (lambda s, cid: s.rate("bob", cid, 0, "up"), UnknownConversationError, "no conversation"),
    (lambda s, cid: s.rate("ana", cid, 7, "up"), UnknownConversationError, "has no turn 7 (its turns are numbered from 0; it has 3)"),
    (lambda s, cid: s.rate("ana", cid, 0, "meh"), UsageError, "a rating is 'up' or 'down', not 'meh'"),
    (lambda s, cid: s.rate("ana", cid, 0, "up", "x" * 2001), UsageError, "at most 2000 characters"),
])
def test_bad_ratings_are_refused_and_change_nothing(rated, call, error, message):
    rag, c = rated
    before = rag.conversations.feedback()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(rag.conversations, c.id)
    assert rag.conversations.feedback() == before


def test_the_export_is_an_eval_set_that_evaluates_as_it_was_rated(rated, tmp_path, capsys):
    from rag import RAG
    from rag.cli import main
    from rag.evaluate import evaluate, load_questions

    rag, _ = rated
    out = tmp_path / "from-users"
    assert main(["--data-dir", str(rag.settings.data_dir), "feedback", "export", str(out)]) == 0
    assert "2 question(s) and 1 document(s) written" in capsys.readouterr().out
    questions = load_questions(out)
    assert [(q["question"], q["impossible"]) for q in questions] == [(ARTICLE_QUESTION, False), (OFF_CORPUS, True)]
    approved = questions[0]
    assert approved["source"] == "2021-12-pourparlers-otan.txt" and approved["comment"] == "the right date"
    assert approved["answers"] and all(a in approved["given_answer"] for a in approved["answers"])
    assert [p.name for p in (out / "docs").iterdir()] == ["2021-12-pourparlers-otan.txt"]

    with RAG(data_dir=tmp_path / "eval-data", embedder=rag.embedder) as fresh:
        fresh.ingest([out / "docs"])
        result = evaluate(questions, fresh.retrieve, fresh.answerer.answer)
    assert result["hit@5"] == 1.0 and result["answer_contains_gold"] == 1.0 and result["abstention_recall"] == 1.0

    assert main(["--data-dir", str(rag.settings.data_dir), "feedback", "export", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err  # nothing overwritten
    down = tmp_path / "to-review"
    assert main(["--data-dir", str(rag.settings.data_dir), "feedback", "export", str(down), "--rating", "down"]) == 0
    [review] = [json.loads(line) for line in (down / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert review["review"] is True and review["answers"] == [] and review["comment"] == "it missed NATO"


def test_a_question_whose_document_is_gone_is_left_out_by_name(rated, tmp_path, article, capsys):
    from rag.cli import main

    rag, _ = rated
    Path(article).unlink()
    assert main(["--data-dir", str(rag.settings.data_dir), "feedback", "export", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "1 question(s) and 0 document(s)" in out and f"left out (its document is gone): {article}" in out
