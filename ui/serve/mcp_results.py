"""The MCP tools' results: the SDK publishes each as the tool's output schema and checks every
result against it, so a host knows each field (and its meaning) before it calls. The records
inside them are the service's own (``ui.serve.schemas``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .schemas import Answer, Collection, Document, Passage, Span

__all__ = ["Answer", "CollectionList", "DocumentList", "SearchResult", "Span"]


class SearchResult(BaseModel):
    passages: list[Passage] = Field(description="the best passages first")


class DocumentList(BaseModel):
    documents: list[Document] = Field(description="every indexed document, sorted by path")


class CollectionList(BaseModel):
    collections: list[Collection] = Field(description="every collection, the default one first")
