"""The responses of ``/v1`` as the OpenAPI document shows them: OpenAI's shapes, plus the
``rag`` extension on the message (the whole answer, with its citations)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .schemas import LinkedAnswer


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class URLCitation(BaseModel):
    start_index: int = Field(description="Where the marker [n] starts in the content.")
    end_index: int = Field(description="Where it ends: content[start_index:end_index] is the marker.")
    url: str = Field(description="The cited span on this server (GET /api/documents/{id}/text).")
    title: str


class Annotation(BaseModel):
    type: Literal["url_citation"]
    url_citation: URLCitation


class ChatMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    refusal: None
    annotations: list[Annotation]
    rag: LinkedAnswer = Field(description="Extension: the answer as /api/ask returns it (citations, abstained).")


class Choice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: Literal["stop"]
    logprobs: None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
