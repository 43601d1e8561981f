"""The RAG pipeline as a LangChain Runnable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from .types import Answer


def _parse(value: Any) -> tuple[str, Any, Any]:
    if isinstance(value, str):
        return value, None, None
    if isinstance(value, dict) and "question" in value:
        return value["question"], value.get("history"), value.get("filters")
    raise TypeError("input must be a question string or a dict with 'question' (and optional 'history', 'filters')")


class RAGRunnable(Runnable[Any, Answer]):
    def __init__(self, rag):
        self.rag = rag

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        question, history, filters = _parse(input)
        return self._call_with_config(
            lambda q: self.rag.ask(q, history=history, filters=filters), question, config
        )

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str | Answer]:
        question, history, filters = _parse(input)
        yield from self.rag.stream(question, history=history, filters=filters)
