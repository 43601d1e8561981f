"""The data the API hands out: passages found, answers, and the citations that tie them together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: ``text == extracted_text(source)[start:end]``."""

    text: str
    source: str
    title: str | None
    date: str | None
    page: int | None
    start: int
    end: int
    score: float
    id: str = ""
    language: str = "en"
    section: str | None = None  # the Markdown heading the passage starts under


@dataclass(frozen=True)
class Citation:
    """What a marker ``[number]`` in an answer points at: ``quote`` is exactly the source's text
    between ``start`` and ``end`` (offsets into the document's extracted text)."""

    number: int
    source: str
    title: str | None
    date: str | None
    page: int | None
    start: int
    end: int
    quote: str
    score: float
    section: str | None = None


def cite(passage: Passage, start: int, end: int, number: int, score: float) -> Citation:
    """The citation of ``passage.text[start:end]``: offsets into the passage become offsets into
    its document's extracted text, and the quote is that exact text."""
    return Citation(
        number=number,
        source=passage.source,
        title=passage.title,
        date=passage.date,
        page=passage.page,
        start=passage.start + start,
        end=passage.start + end,
        quote=passage.text[start:end],
        score=score,
        section=passage.section,
    )


@dataclass(frozen=True)
class Answer:
    """An answer whose markers [1], [2] are the numbers of ``citations``; an abstention has none.
    ``query`` is what was searched (a follow-up rewritten to stand alone); ``unsupported`` holds
    the sentences of ``text`` that no passage supports (they carry no marker)."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    query: str = ""
    unsupported: tuple[str, ...] = ()


class Answerer(Protocol):
    """Writes an answer from retrieved passages. Implementations: extractive (no LLM) and llm
    (``rag.answerers.llm``, which can also rewrite a follow-up with ``standalone_question``)."""

    def answer(self, question: str, passages: list[Passage]) -> Answer: ...

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str | Answer]:
        """Text pieces as they come, then the final ``Answer``."""
        ...
