"""The chat's saved conversations: who is asking, the list to pick from, and a conversation
brought back as the chat shows it (every answer with its sources, as they were given)."""

from __future__ import annotations

import gradio as gr

from rag import RAG, RagError
from rag.conversations import LOCAL_USER

from .render import EMPTY_HTML, chat_text, sources_html


def user_of(request) -> str:
    """The logged-in user of a gradio request; without a login, the one local user."""
    return getattr(request, "username", None) or LOCAL_USER


def choices(rag: RAG, user: str) -> list[tuple[str, str]]:
    """(label, id) of the user's conversations, the latest first."""
    return [(f"{c.title or '(untitled)'} · {c.collection}", c.id) for c in rag.conversations.list(user)]


FEEDBACK = {"up": "Like", "down": "Dislike"}
"""A stored rating as the chat's thumbs show it (its ``feedback_options``)."""


def new_chat() -> gr.Chatbot:
    """An empty chat, without the thumbs of the conversation shown before."""
    return gr.Chatbot(value=[], feedback_value=[])


def restored(rag: RAG, user: str, conversation_id: str) -> tuple[gr.Chatbot, dict, str, str]:
    """The chat (its messages, with the thumbs the user gave), the answers by message slot (as
    ``respond`` keeps them), the sources panel of the last answer, and the collection of a saved
    conversation."""
    conversation = rag.conversations.get(user, conversation_id)
    history, answers = [], {}
    for turn in conversation.turns:
        history += [{"role": "user", "content": turn.question},
                    {"role": "assistant", "content": chat_text(turn.answer)}]
        answers[len(history) - 1] = {"question": turn.question, "answer": turn.answer, "turn": turn.number,
                                     "collection": conversation.collection}
    last = answers.get(len(history) - 1)
    panel = sources_html(last["answer"], last["question"], _opened(rag, user, conversation.collection)) if last else EMPTY_HTML
    thumbs = [FEEDBACK.get(turn.rating) for turn in conversation.turns]
    return gr.Chatbot(value=history, feedback_value=thumbs), answers, panel, conversation.collection


def _opened(rag: RAG, user: str, collection: str) -> RAG | None:
    """The conversation's collection, whose copies of web pages the sources panel reads; None
    when it is no longer open to the user."""
    try:
        return rag.collection(collection, user)
    except RagError:
        return None
