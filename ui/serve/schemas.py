"""The service's request and response bodies, as the OpenAPI document (``/api``, ``/v1``) and
the MCP tools' output schemas show them: one description of each record for every route.

An answer is ``Answer.to_dict()`` (the one serialisation of ``rag.types``) with, on each
citation, the id of its document, and over HTTP the URL of its exact span on this server."""

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


DOCUMENT_ID = ("the document's id, stable across versions of its file: its exact text is "
               "GET /api/documents/{id}/text over REST, read_document over MCP")
OFFSETS = "offsets into the document's extracted text (the text a span read returns)"


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
    language: str = Field(description="the passage's language (ISO 639-1 code)")
    text: str = Field(description="the passage, exactly as in the document between start and end")
    score: float = Field(description="retrieval score (higher is more relevant; only comparable "
                                     "within one search)")


class Citation(Where):
    """What the marker [number] in the answer's text points at."""

    number: int = Field(description="the n of the [n] markers in the answer's text")
    quote: str = Field(description="the cited text, exactly the document's text between start and end")
    score: float = Field(description="the citation's score (higher is more relevant)")


class LinkedCitation(Citation):
    """A citation with the URL of its span on this server."""

    url: str = Field(description="GET it (with the API key) for the exact text of this span: the quote")


class Answer(BaseModel):
    """``Answer.to_dict()``, each citation with its document's id."""

    text: str = Field(description="the answer; its [n] markers refer to the citations' numbers "
                                  "(when abstained, a sentence saying the documents do not answer)")
    abstained: bool = Field(description="true when the documents do not hold the answer: then "
                                        "there are no citations, and nothing should be inferred")
    query: str = Field(description="what was searched: the question, or a follow-up rewritten to "
                                   "stand alone")
    citations: list[Citation] = Field(description="the passages the answer quotes, by number")
    unsupported: list[str] = Field(description="sentences of the text that no document supports "
                                               "(they carry no marker)")


class LinkedAnswer(Answer):
    """An answer whose citations carry the URLs of their spans (REST, and /v1's extension)."""

    citations: list[LinkedCitation] = Field(description="the passages the answer quotes, by number")


class Document(BaseModel):
    id: str = Field(description=DOCUMENT_ID)
    source: str = Field(description="the document's file path (usable in the sources filter)")
    title: str | None = Field(description="the document's title, if it has one")
    date: str | None = Field(description="the document's date, if known")
    language: str | None = Field(description="the document's language (ISO 639-1 code), if detected")
    chunks: int = Field(description="how many passages it is indexed as")


class Span(BaseModel):
    id: str = Field(description="the document's id")
    source: str = Field(description="the document's file path")
    start: int = Field(description="where the text starts")
    end: int = Field(description="where the text ends (exclusive)")
    text: str = Field(description="the document's exact text between start and end: a citation's "
                                  "quote read at its offsets equals this")


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


class AddPage(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="The page's http or https address.")


class Removed(BaseModel):
    removed: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int


COLLECTION_NAME = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"


class Collection(BaseModel):
    """A named set of documents with its own index (``rag collections``)."""

    name: str = Field(description="Its name: the default one is 'default' (and the model 'rag-cite' on /v1).")
    documents: int
    chunks: int


class NewCollection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=COLLECTION_NAME, description="1 to 64 lowercase letters, digits, '-' and '_', "
                      "beginning and ending with a letter or digit.")


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str | None = Field(None, description="The collection it asks (default: the server's).")
    title: str = Field("", max_length=200, description="Default: its first question.")


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)


class ConversationSummary(BaseModel):
    """A saved conversation, without its turns."""

    id: str
    title: str
    collection: str
    created: float = Field(description="Seconds since the epoch.")
    updated: float = Field(description="When its last turn was saved.")


class SavedTurn(BaseModel):
    turn: int = Field(description="Its number, from 0: the {turn} of the feedback route.")
    question: str
    answer: LinkedAnswer = Field(description="The answer as it was given, its citations stored as data.")
    created: float
    rating: Literal["up", "down"] | None = Field(description="Your rating of the answer, if you gave one.")


class ConversationDetail(ConversationSummary):
    turns: list[SavedTurn]


class ConversationQuestion(RetrieveRequest):
    """A question in a saved conversation: its turns are the history."""


class NewFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"] = Field(description="Thumbs up (a good answer) or down.")
    comment: str = Field("", max_length=2000, description="Why, in the user's words (optional).")


class Feedback(BaseModel):
    """A rating of one answer, stored with its question, answer and collection (``rag feedback
    export`` makes an evaluation set of them)."""

    conversation: str
    turn: int = Field(description="The answer's position in the conversation's turns, from 0.")
    collection: str
    rating: Literal["up", "down"]
    comment: str
    question: str
    created: float
