"""``/api/conversations``: saved conversations over REST, each route a few lines over
``rag.conversations``: list, create, read (every answer with its
citations as they were given), rename, delete, ask in one (the turn is saved; in a collection
open to the user), rate an answer and export as Markdown or JSON. Every route acts for the
request's user; another user's conversation is 404."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from rag import RAG
from rag.conversations import Conversation, to_json, to_markdown

from . import schemas
from .documents import linked, linked_answer
from .errors import ERROR_RESPONSES
from .rest import clean_question, filters_of, the_rag, the_user

router = APIRouter(prefix="/api/conversations", tags=["conversations"], responses=ERROR_RESPONSES)


def _summary(c: Conversation) -> dict:
    return {"id": c.id, "title": c.title, "collection": c.collection, "created": c.created, "updated": c.updated}


@router.get("", response_model=list[schemas.ConversationSummary], summary="Your conversations, the latest first")
def list_conversations(rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    return [_summary(c) for c in rag.conversations.list(user)]


@router.post("", response_model=schemas.ConversationSummary, status_code=201, summary="Start a conversation")
def create_conversation(body: schemas.NewConversation, rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    collection = rag.collection(body.collection or rag.settings.collection, user)
    collection.store  # an unknown collection: 404, nothing saved
    return _summary(rag.conversations.create(user, collection.settings.collection, body.title))


@router.get("/{conversation_id}", response_model=schemas.ConversationDetail, summary="A conversation, every turn")
def get_conversation(conversation_id: str, request: Request, rag: RAG = Depends(the_rag),
                     user: str = Depends(the_user)):
    c = rag.conversations.get(user, conversation_id)
    turns = [{"turn": t.number, "question": t.question, "created": t.created, "rating": t.rating,
              "answer": linked(t.answer, str(request.base_url), c.collection)} for t in c.turns]
    return {**_summary(c), "turns": turns}


@router.patch("/{conversation_id}", response_model=schemas.ConversationSummary, summary="Rename a conversation")
def rename_conversation(conversation_id: str, body: schemas.Rename, rag: RAG = Depends(the_rag),
                        user: str = Depends(the_user)):
    return _summary(rag.conversations.rename(user, conversation_id, body.title))


@router.delete("/{conversation_id}", response_model=schemas.ConversationSummary, summary="Delete a conversation")
def delete_conversation(conversation_id: str, rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    c = rag.conversations.get(user, conversation_id)
    rag.conversations.delete(user, conversation_id)
    return _summary(c)


@router.post("/{conversation_id}/ask", response_model=schemas.LinkedAnswer, summary="Ask in a conversation")
def ask_in_conversation(conversation_id: str, body: schemas.ConversationQuestion, request: Request,
                        rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    """Answered in the conversation's collection, with its turns as history; the turn is saved."""
    collection = rag.conversations.get(user, conversation_id).collection
    answer = rag.converse(conversation_id, clean_question(body.question), user=user,
                          filters=filters_of(body.filters), k=body.k)
    return linked_answer(answer, str(request.base_url), collection)


@router.put("/{conversation_id}/turns/{turn}/feedback", response_model=schemas.Feedback,
            summary="Rate an answer: thumbs up or down, with an optional comment")
def rate_answer(conversation_id: str, body: schemas.NewFeedback,
                turn: int = PathParam(ge=0, description="The answer's position in the turns, from 0."),
                rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    """The answer of turn ``turn`` (from 0, as ``turns`` lists them); rating it again replaces
    the earlier rating. Stored with its question, answer and collection."""
    given = rag.conversations.rate(user, conversation_id, turn, body.rating, body.comment)
    return {k: v for k, v in vars(given).items() if k not in ("user", "answer")}


@router.get("/{conversation_id}/export", summary="A conversation as Markdown or JSON",
            responses={200: {"content": {"text/markdown": {}, "application/json": {}}}})
def export_conversation(conversation_id: str, format: Literal["markdown", "json"] = Query("markdown"),
                        rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    """Each question, its answer, and its numbered sources with their quotes."""
    c = rag.conversations.get(user, conversation_id)
    if format == "json":
        return to_json(c)
    return PlainTextResponse(to_markdown(c), media_type="text/markdown; charset=utf-8")
