import re

import pytest

from rag.answerers import ABSTENTION, ExtractiveAnswerer
from rag.types import Answer

QUESTION = "Quand commenceront les pourparlers entre la Russie et les États-Unis ?"


@pytest.fixture(scope="module")
def answerer(real_embedder):  # the session's model, not a second one loaded
    return ExtractiveAnswerer(real_embedder)


def assert_well_formed(answer: Answer, text: str | None = None) -> None:
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert set(markers) == {c.number for c in answer.citations}
    # Numbered in order of first appearance.
    assert list(dict.fromkeys(markers)) == sorted(set(markers))
    for c in answer.citations:
        assert c.quote and c.quote in answer.text
        if text is not None:
            assert text[c.start : c.end] == c.quote


def test_answers_when_question_with_exact_quotes(answerer, article_text, paragraphs):
    _, text = article_text
    answer = answerer.answer(QUESTION, paragraphs)
    assert not answer.abstained
    assert answer.query == QUESTION
    assert any("immédiatement après" in c.quote for c in answer.citations)
    assert_well_formed(answer, text)
    for c in answer.citations:
        assert c.source == paragraphs[0].source
        assert c.date == "2021-12"


def test_answer_holds_at_most_max_sentences(article_text, paragraphs, answerer):
    single = ExtractiveAnswerer(answerer.embedder, max_sentences=1)
    answer = single.answer(QUESTION, paragraphs)
    assert len(answer.citations) == 1
    assert answer.text == f"{answer.citations[0].quote} [1]"


def test_unrelated_french_question_abstains_in_french(answerer, paragraphs):
    answer = answerer.answer("Quelle est la recette de la tarte tatin ?", paragraphs)
    assert answer.abstained
    assert answer.citations == []
    assert answer.text == ABSTENTION["fr"] == "Les documents ne contiennent pas la réponse."


def test_unrelated_english_question_abstains_in_english(answerer, paragraphs):
    answer = answerer.answer("What is the boiling point of liquid nitrogen?", paragraphs)
    assert answer.abstained
    assert answer.citations == []
    assert answer.text == "The documents do not contain the answer."


def test_no_passages_abstains(answerer):
    answer = answerer.answer("Who founded the company?", [])
    assert answer.abstained and answer.citations == []
    assert answer.text == ABSTENTION["en"]


def test_stream_yields_text_then_the_same_answer(answerer, paragraphs):
    for question in (QUESTION, "Quelle est la recette de la tarte tatin ?"):
        pieces = list(answerer.stream(question, paragraphs))
        *texts, final = pieces
        assert texts and all(isinstance(t, str) for t in texts)
        assert isinstance(final, Answer)
        assert "".join(texts) == final.text
        assert final == answerer.answer(question, paragraphs)


@pytest.mark.parametrize("question", [
    "Qui est le ministre russe des Affaires étrangères ?",
    "Quand aura lieu la réunion du Conseil OTAN-Russie ?",
    "Combien de jours durent les vacances en Russie ?",
    "Who is the NATO Secretary General?",
])
def test_citations_map_to_markers_and_source_text(answerer, article_text, paragraphs, question):
    _, text = article_text
    answer = answerer.answer(question, paragraphs)
    assert_well_formed(answer, text)
    if not answer.abstained:
        assert 1 <= len(answer.citations) <= answerer.max_sentences


def test_adjacent_sentences_of_a_passage_are_one_citation(answerer, article_text, paragraphs):
    _, text = article_text
    lavrov = next(p for p in paragraphs if p.text.startswith("Sergueï Lavrov"))
    answer = ExtractiveAnswerer(answerer.embedder, max_sentences=2, second_margin=1.0).answer(
        "Combien de temps durent les vacances du nouvel an en Russie, selon Lavrov ?", [lavrov])
    assert_well_formed(answer, text)
    assert len(answer.citations) == 1
    assert answer.citations[0].quote == lavrov.text


def test_rejects_no_sentences(answerer):
    with pytest.raises(ValueError):
        ExtractiveAnswerer(answerer.embedder, max_sentences=0)
