"""The shapes of the MCP tools' results: the SDK publishes each as the tool's output schema and
checks every result against it, so a host knows each field (and its meaning) before it calls."""

from __future__ import annotations

from pydantic import BaseModel, Field

DOCUMENT_ID = "the document's id: read_document(document_id, start, end) gives its exact text"
OFFSETS = "offsets into the document's extracted text (what read_document reads)"


class Where(BaseModel):
    """Where a text sits: the document (id, path, title, date) and the span inside it."""

    document_id: str = Field(description=DOCUMENT_ID)
    source: str = Field(description="the document's file path")
    title: str | None = Field(description="the document's title, if it has one")
    date: str | None = Field(description="the document's date (YYYY, YYYY-MM or YYYY-MM-DD), if known")
    page: int | None = Field(description="the page (PDF), if any")
    section: str | None = Field(description="the Markdown section heading, if any")
    start: int = Field(description=f"where the text starts: {OFFSETS}")
    end: int = Field(description=f"where the text ends (exclusive): {OFFSETS}")


class Passage(Where):
    """A retrieved passage: its text is exactly the document's text between start and end."""

    id: str = Field(description="the passage's (chunk's) id in the index")
    text: str = Field(description="the passage, exactly as in the document between start and end")
    score: float = Field(description="retrieval score (higher is more relevant; only comparable "
                                     "within one search)")


class SearchResult(BaseModel):
    passages: list[Passage] = Field(description="the best passages first")


class Citation(Where):
    """What the marker [number] in the answer's text points at."""

    number: int = Field(description="the n of the [n] markers in the answer's text")
    quote: str = Field(description="the cited text, exactly the document's text between start and end")
    score: float = Field(description="the citation's score (higher is more relevant)")


class AnswerResult(BaseModel):
    text: str = Field(description="the answer; its [n] markers refer to the citations' numbers "
                                  "(when abstained, a sentence saying the documents do not answer)")
    abstained: bool = Field(description="true when the documents do not hold the answer: then "
                                        "there are no citations, and nothing should be inferred")
    query: str = Field(description="what was searched for")
    citations: list[Citation] = Field(description="the passages the answer quotes, by number")
    unsupported: list[str] = Field(description="sentences of the text that no document supports "
                                               "(they carry no marker)")


class Document(BaseModel):
    id: str = Field(description=DOCUMENT_ID)
    source: str = Field(description="the document's file path (usable in the sources filter)")
    title: str | None = Field(description="the document's title, if it has one")
    date: str | None = Field(description="the document's date, if known")
    language: str | None = Field(description="the document's language (ISO 639-1 code), if detected")
    chunks: int = Field(description="how many passages it is indexed as")


class DocumentList(BaseModel):
    documents: list[Document] = Field(description="every indexed document, sorted by path")


class Span(BaseModel):
    id: str = Field(description="the document's id")
    source: str = Field(description="the document's file path")
    start: int = Field(description="where the text starts")
    end: int = Field(description="where the text ends (exclusive)")
    text: str = Field(description="the document's exact text between start and end: a citation's "
                                  "quote read at its offsets equals this")
