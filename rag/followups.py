"""Follow-up questions: what to retrieve with when a question leans on the conversation before
it ("et avec l'OTAN ?"). ``RAG`` asks the answerer's language model to rewrite it when there is
one, else applies ``standalone_question``'s rule."""

from __future__ import annotations

import re

_FOLLOW_UP = re.compile(
    r"^\s*(et|and|mais|but|also|aussi|what about|how about|qu'en est-il|et pour|et avec|and with)\b",
    re.IGNORECASE,
)


def standalone_question(question: str, history) -> str:
    """The question to retrieve with: a follow-up ("et avec l'OTAN ?", "and in 2020?") or a very
    short question is joined to the previous user question; otherwise the question as is."""
    previous = _last_user_message(history)
    if not previous:
        return question
    short = len(re.findall(r"\w+", question)) <= 4
    return f"{previous} {question}" if short or _FOLLOW_UP.match(question) else question


def conversation_turns(history) -> list[tuple[str, str]]:
    """(role, text) turns of a history given as role/content dicts (OpenAI, Gradio messages) or
    as (user, assistant) pairs."""
    turns = []
    for turn in history or []:
        if isinstance(turn, dict) and turn.get("content"):
            turns.append((str(turn.get("role", "user")), str(turn["content"])))
        elif isinstance(turn, (list, tuple)):
            turns += [(role, str(t)) for role, t in zip(("user", "assistant"), turn) if t]
    return turns


def _last_user_message(history) -> str | None:
    users = [text for role, text in conversation_turns(history) if role == "user"]
    return users[-1] if users else None
