"""``/v1``: the OpenAI-compatible API (models, chat completions), so that any OpenAI client uses
the documents as a model, and keeps the citations.

An answer is ``choices[0].message.content`` with its ``[n]`` markers. ``message.annotations``
holds OpenAI's own ``url_citation`` annotations, one per marker (``content[start_index:end_index]``
is the marker, ``url`` returns the cited span's exact text); ``message.rag`` (an extension) holds
the whole answer as ``/api/ask`` returns it: citations with source, title, date, page, offsets,
quote and score, and ``abstained``. In a stream, the last content chunk's ``delta`` carries both.
Filters go in the request's ``rag`` extension: ``{"sources": [...], "date_from", "date_to", "k"}``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from rag import RAG
from rag.errors import EXPECTED
from rag.types import Answer

from .documents import linked_answer
from .errors import ERROR_RESPONSES, ServiceError, error_body, log
from .openai_schemas import ChatCompletion, ModelCard, ModelList
from .rest import the_user
from .schemas import MAX_QUESTION_CHARS, Filters

MODEL_ID = "rag-cite"
"""The model of the server's collection (the default one, unless ``rag --collection NAME serve``);
every other collection is the model of its name."""

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)


class Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Part] | None = Field(None, max_length=MAX_QUESTION_CHARS * 4)

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class RagOptions(Filters):
    """The request extension ``rag``: filters, and how many passages to retrieve."""

    k: int | None = Field(None, ge=1, le=100)


class ChatRequest(BaseModel):
    """OpenAI's chat request; fields this API has no use for (temperature, max_tokens…) are
    accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    rag: RagOptions | None = Field(None, description="Extension: filters (sources, date_from, date_to) and k.")


def model_ids(rag: RAG, user: str) -> list[str]:
    """One model per collection open to ``user``: ``rag-cite`` for the server's own, the name
    for the others."""
    own, names = rag.settings.collection, rag.collection_names(user)
    return ([MODEL_ID] if own in names else []) + [n for n in names if n != own]


def the_collection(rag: RAG, model: str, user: str) -> RAG:
    """The collection that ``model`` names, if it is open to ``user`` (else the model does not
    exist for them)."""
    name = rag.settings.collection if model == MODEL_ID else model
    if name == rag.settings.collection and rag.access.rules().allows(user, name):
        return rag  # the common case, without listing the collections
    if name not in rag.collection_names(user):
        ids = ", ".join(map(repr, model_ids(rag, user))) or "none open to you"
        raise ServiceError(404, f"the model {model!r} does not exist; this server has {ids} "
                           "(one per collection)", "model_not_found", "model")
    return rag.collection(name)


@router.get("/models", response_model=ModelList, summary="The models: one per collection of documents")
def models(request: Request):
    return {"object": "list", "data": [_card(m) for m in model_ids(request.app.state.rag, the_user(request))]}


@router.get("/models/{model}", response_model=ModelCard, summary="One model")
def model(model: str, request: Request):
    the_collection(request.app.state.rag, model, the_user(request))
    return _card(model)


def _card(model: str) -> dict:
    return {"id": model, "object": "model", "created": 0, "owned_by": "rag-cite"}


@router.post("/chat/completions", response_model=ChatCompletion, summary="Answer the conversation's last question",
             responses={200: {"content": {"text/event-stream": {"description": "with stream: true"}}}})
async def chat_completions(body: ChatRequest, request: Request):
    question, history = _conversation(body.messages)
    options = body.rag.model_dump() if body.rag else {}
    k = options.pop("k", None)
    root, base_url, user = request.app.state.rag, str(request.base_url), the_user(request)

    def turn() -> tuple[RAG, Turn]:
        rag = the_collection(root, body.model, user)
        return rag, Turn(rag, base_url, question, body.model)

    if not body.stream:
        def complete() -> dict:
            rag, t = turn()
            return t.completion(rag.ask(question, history, options or None, k))

        # one trip to a worker thread; the dict is built to the schema (response_model documents it)
        return JSONResponse(await run_in_threadpool(complete))

    def start():
        rag, t = turn()
        pieces = rag.stream(question, history=history, filters=options or None, k=k)
        return t, pieces, next(pieces)  # a bad filter or model is still an HTTP error here

    t, pieces, first = await run_in_threadpool(start)
    usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(t.events(first, pieces, usage), media_type="text/event-stream")


def _conversation(messages: list[Message]) -> tuple[str, list[dict]]:
    """The last message's question, and the user/assistant turns before it."""
    last = messages[-1]
    if last.role != "user" or not last.text().strip():
        raise ServiceError(400, "the last message must be a user message with text", "invalid_messages", "messages")
    history = [{"role": m.role, "content": m.text()} for m in messages[:-1] if m.role in ("user", "assistant")]
    return last.text().strip(), history


class Turn:
    """One answer, as a completion or as a stream of chunks."""

    def __init__(self, rag: RAG, base_url: str, question: str, model: str = MODEL_ID):
        self.rag, self.base_url, self.question, self.model = rag, base_url, question, model
        self.id, self.created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        self.sources_list = rag.settings.sources_in_content

    def message(self, answer: Answer) -> tuple[str, list[dict], dict]:
        """The content, its annotations and the ``rag`` extension of ``answer``."""
        data = linked_answer(answer, self.base_url, self.rag.settings.collection)
        content = answer.text + (sources_list(data["citations"]) if self.sources_list else "")
        return content, annotations(content, data["citations"]), data

    def completion(self, answer: Answer) -> dict:
        content, notes, data = self.message(answer)
        message = {"role": "assistant", "content": content, "refusal": None, "annotations": notes, "rag": data}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": self.usage(content)}

    def usage(self, content: str) -> dict:
        """Token counts in the embedding model's tokens (this API's model has no tokenizer of its own)."""
        prompt, completion = self.rag.embedder.count_tokens([self.question, content])
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def events(self, first, pieces: Iterator, usage: bool) -> Iterator[str]:
        """The SSE lines: the role, the text as it is written, a last content chunk with the
        annotations and the ``rag`` extension, the finish, the usage if asked, ``[DONE]``."""
        extra = {"usage": None} if usage else {}
        yield self._event({"role": "assistant", "content": ""}, **extra)
        drafts, streamed = self.rag.answerer.drafts, ""
        content = ""
        try:
            for piece in _chain(first, pieces):
                if isinstance(piece, Answer):
                    content, notes, data = self.message(piece)
                    tail = content[len(streamed):] if content.startswith(streamed) else content
                    yield self._event({"content": tail, "annotations": notes, "rag": data}, **extra)
                    break
                if not drafts:
                    streamed += piece
                    yield self._event({"content": piece}, **extra)
        except Exception as exc:  # the status is sent: the error goes in the stream, without a traceback
            log.error("streaming an answer to %r failed", self.question, exc_info=exc)
            message = str(exc) if isinstance(exc, EXPECTED) else f"internal error ({type(exc).__name__}), see the server log"
            yield f"data: {json.dumps(error_body(message, 'stream_failed', status=500))}\n\n"
            yield "data: [DONE]\n\n"
            return
        yield self._event({}, finish="stop", **extra)
        if usage:
            yield f"data: {json.dumps(self._chunk([]) | {'usage': self.usage(content)})}\n\n"
        yield "data: [DONE]\n\n"

    def _event(self, delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps(self._chunk([choice]) | extra, ensure_ascii=False)}\n\n"

    def _chunk(self, choices: list) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": choices}


def _chain(first, rest: Iterator):
    yield first
    yield from rest


_MARKER = re.compile(r"\[(\d+)\]")


def annotations(content: str, citations: list[dict]) -> list[dict]:
    """A ``url_citation`` for every ``[n]`` marker of ``content`` that has a citation."""
    by_number = {c["number"]: c for c in citations}
    return [{"type": "url_citation", "url_citation": {
                "start_index": m.start(), "end_index": m.end(), "url": by_number[n]["url"],
                "title": by_number[n]["title"] or by_number[n]["source"].rsplit("/", 1)[-1]}}
            for m in _MARKER.finditer(content) if (n := int(m.group(1))) in by_number]


def sources_list(citations: list[dict]) -> str:
    """The plain numbered list appended to the content (setting ``sources_in_content``)."""
    if not citations:
        return ""
    lines = [f"[{c['number']}] {c['title'] or c['source'].rsplit('/', 1)[-1]}"
             + (f" ({c['date']})" if c["date"] else "") + f": \u201c{c['quote']}\u201d" for c in citations]
    return "\n\nSources:\n" + "\n".join(lines)
