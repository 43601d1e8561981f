"""The data the API hands out: passages found, answers, and the citations that tie them together.

``Answer.to_dict()`` is the one serialisation of an answer and its citations, used by every
interface (``rag ask --json``, the web chat, its API)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vectorstore.records import Chunk


@dataclass(frozen=True, kw_only=True)
class Span:
    """Where a text sits in a document: ``rag.document_text(source)[start:end]``, with the
    document's title and date, the page and the Markdown section it is on."""

    source: str
    start: int
    end: int
    title: str | None = None
    date: str | None = None
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True, kw_only=True)
class Passage(Span):
    """A retrieved chunk: ``text == rag.document_text(source)[start:end]``; ``score`` is its
    fused retrieval score, ``id`` the store's chunk id."""

    text: str
    score: float
    id: str = ""
    language: str = "en"

    @classmethod
    def of(cls, chunk: Chunk, score: float) -> Passage:
        return cls(text=chunk.text, source=chunk.source, title=chunk.title, date=chunk.date,
                   page=chunk.page, start=chunk.start, end=chunk.end, score=score, id=chunk.id,
                   language=chunk.language, section=chunk.section)


@dataclass(frozen=True, kw_only=True)
class Citation(Span):
    """What a marker ``[number]`` in an answer points at: ``quote`` is exactly the source's text
    between ``start`` and ``end`` (offsets into the document's extracted text)."""

    number: int
    quote: str
    score: float

    def to_dict(self) -> dict:
        """number, source, title, date, page, section, start, end, quote, score."""
        return asdict(self)


def source_name(source: str) -> str:
    """How a document is named to people in a list: a file by its name, a web page by its URL."""
    from pathlib import Path

    from ingest.web import is_url

    return source if is_url(source) else Path(source).name


def cite(passage: Passage, start: int, end: int, number: int, score: float) -> Citation:
    """The citation of ``passage.text[start:end]``: offsets into the passage become offsets into
    its document's extracted text, and the quote is that exact text."""
    return Citation(
        number=number, source=passage.source, title=passage.title, date=passage.date,
        page=passage.page, section=passage.section, start=passage.start + start,
        end=passage.start + end, quote=passage.text[start:end], score=score,
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

    def to_dict(self) -> dict:
        """The JSON shape of an answer, for every interface: text, abstained, query, citations
        (``Citation.to_dict`` each) and unsupported (a list of sentences)."""
        return {"text": self.text, "abstained": self.abstained, "query": self.query,
                "citations": [c.to_dict() for c in self.citations],
                "unsupported": list(self.unsupported)}

