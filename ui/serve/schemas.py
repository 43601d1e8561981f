"""The REST API's request and response bodies (``/api``), as they appear in the OpenAPI document.

An answer is ``Answer.to_dict()`` (the one serialisation of ``rag.types``) with, on each
citation, the id of its document and the URL of its exact span on this server."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION_CHARS = 4000


class Filters(BaseModel):
    """Restrict the search to some documents and/or a date range (checked by ``rag.Filters``)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field([], description="Paths of documents to search (GET /api/documents lists them); empty: all.")
    date_from: str | None = Field(None, description="Earliest document date: YYYY, YYYY-MM or YYYY-MM-DD.")
    date_to: str | None = Field(None, description="Latest document date: YYYY, YYYY-MM or YYYY-MM-DD.")


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_QUESTION_CHARS * 4)


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int | None = Field(None, ge=1, le=100, description="Passages to return; default: the `k` setting.")
    filters: Filters | None = None


class AskRequest(RetrieveRequest):
    history: list[Turn] = Field([], max_length=100, description="Earlier turns: a follow-up question is rewritten to stand alone.")


class Citation(BaseModel):
    """What the marker ``[number]`` points at: ``quote`` is the document's text from ``start``
    to ``end``, which ``url`` returns."""

    number: int
    source: str
    title: str | None
    date: str | None
    page: int | None
    section: str | None
    start: int
    end: int
    quote: str
    score: float
    document_id: str
    url: str = Field(description="GET it (with the API key) for the exact text of this span.")


class Answer(BaseModel):
    text: str = Field(description="The answer; its markers [1], [2]… are citation numbers.")
    abstained: bool = Field(description="True when the documents do not hold the answer (then no citations).")
    query: str = Field(description="What was searched: the question, or a follow-up rewritten to stand alone.")
    citations: list[Citation]
    unsupported: list[str] = Field(description="Sentences no passage supports (they carry no marker).")


class Passage(BaseModel):
    id: str = Field(description="The chunk's id in the store.")
    document_id: str
    source: str
    title: str | None
    date: str | None
    page: int | None
    section: str | None
    language: str
    start: int
    end: int
    text: str = Field(description="Exactly the document's text from start to end.")
    score: float


class Document(BaseModel):
    id: str = Field(description="Stable id of the document (from its path).")
    source: str
    title: str | None
    date: str | None
    language: str | None
    chunks: int


class Span(BaseModel):
    id: str
    source: str
    start: int
    end: int
    text: str


class Refused(BaseModel):
    name: str
    reason: str


class Report(BaseModel):
    """What an upload or a sync did, document by document."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    failed: list[Refused]
    chunks: int


class Removed(BaseModel):
    removed: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int
