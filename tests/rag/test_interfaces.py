"""The small interfaces the code is typed with: Answerer (answer and abstention derive from
stream), Embedder, Filters (the one date validator) and the one serialisation of answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rag import Answer, Citation, Filters, RagError
from rag.answerers import ABSTENTION, Answerer, ExtractiveAnswerer
from rag.answerers.base import abstain
from rag.errors import FilterError
from rag.types import Passage
from vectorstore.embeddings import Embedder


class Echo(Answerer):
    """An answerer of one method: cites the first passage whole, abstains without one."""

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str | Answer]:
        if not passages:
            yield from abstain(question)
            return
        p = passages[0]
        c = Citation(number=1, source=p.source, start=p.start, end=p.end, quote=p.text, score=p.score)
        yield p.text
        yield " [1]"
        yield Answer(text=f"{p.text} [1]", citations=[c])


PASSAGE = Passage(text="La marée monte à six heures.", source="/d/marees.txt", start=10, end=38,
                  score=0.9, title="Marées", date="2023-12", language="fr")


def test_answer_derives_from_stream():
    answer = Echo().answer("Quand la marée monte-t-elle ?", [PASSAGE])
    assert answer.text == "La marée monte à six heures. [1]" and answer.citations[0].quote == PASSAGE.text
    assert Echo().standalone_question("et demain ?", [("user", "marée ?")]) is None


def test_abstention_derives_from_the_question_language():
    fr = Echo().answer("Quand la marée monte-t-elle ?", [])
    en = list(Echo().stream("When is high tide?", []))
    assert fr == Answer(ABSTENTION["fr"], [], abstained=True, query="Quand la marée monte-t-elle ?")
    assert en == [ABSTENTION["en"], Answer(ABSTENTION["en"], [], abstained=True, query="When is high tide?")]


def test_an_answerer_must_write_a_stream():
    class Silent(Answerer):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Silent()


def test_the_real_parts_are_the_interfaces(real_embedder):
    assert isinstance(real_embedder, Embedder)
    assert isinstance(ExtractiveAnswerer(real_embedder), Answerer)
    vectors = real_embedder.encode(["une marée", "a tide"], query=True)
    assert vectors.shape == (2, real_embedder.identity.dimension)
    assert real_embedder.count_tokens(["une marée"])[0] > 0


def test_citations_serialise_once_for_every_interface():
    answer = Echo().answer("Quand la marée monte-t-elle ?", [PASSAGE])
    data = answer.to_dict()
    assert data == json.loads(json.dumps(data))  # plain JSON
    assert data["citations"] == [{"number": 1, "source": "/d/marees.txt", "start": 10, "end": 38,
                                  "title": None, "date": None, "page": None, "section": None,
                                  "quote": PASSAGE.text, "score": 0.9}]
    assert set(data) == {"text", "abstained", "query", "citations", "unsupported"}


@pytest.mark.parametrize("dates", [("2021", None), ("2021-02", "2021-02-28"), (None, "2024-02-29"),
                                   (" 2021-12 ", ""), ("2021-06-15", "2021-06")])
def test_filters_accept_calendar_dates(dates):
    f = Filters(date_from=dates[0], date_to=dates[1])
    assert f.date_from == (dates[0].strip() if dates[0] else None) and f.date_to == (dates[1] or None)


@pytest.mark.parametrize("field, value", [("date_from", "2021-13"), ("date_to", "2023-02-29"),
                                          ("date_from", "21-03"), ("date_to", "2021/03"),
                                          ("date_from", "yesterday")])
def test_filters_refuse_what_is_no_date_naming_the_field(field, value):
    with pytest.raises(FilterError, match=f"{field}: '{value}' is not a date"):
        Filters(**{field: value})


def test_filters_refuse_a_range_that_ends_before_it_starts():
    with pytest.raises(FilterError, match="date_from 2022 is after date_to 2021-12"):
        Filters(date_from="2022", date_to="2021-12")
    with pytest.raises(FilterError, match="unknown filter"):
        Filters.coerce({"author": "x"})
    assert issubclass(FilterError, RagError) and issubclass(FilterError, ValueError)
