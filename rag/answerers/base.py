"""What every answerer is: ``stream`` writes the answer; ``answer`` and abstaining derive from it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from ingest.language import detect_language
from rag.types import Answer, Passage

ABSTENTION = {
    "fr": "Les documents ne contiennent pas la réponse.",
    "en": "The documents do not contain the answer.",
}
"""What an answerer says, in the question's language, when the passages do not hold the answer."""


class Answerer(ABC):
    """Writes an answer from retrieved passages. Implementations: ``ExtractiveAnswerer`` (no
    language model) and ``LLMAnswerer``, which can also rewrite a follow-up question."""

    drafts: bool = False
    """Whether ``stream``'s pieces are a draft that the final ``Answer``'s text replaces (a
    model's raw text, before its citations are checked), rather than that text itself. An
    interface that can only append (an OpenAI stream) shows the final text instead."""

    @abstractmethod
    def stream(self, question: str, passages: list[Passage]) -> Iterator[str | Answer]:
        """Text pieces as they come, then the final ``Answer`` (its ``text`` may differ from the
        pieces joined: a model's text once its citations are checked)."""

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        *_, final = self.stream(question, passages)
        return final

    def standalone_question(self, question: str, history: list[tuple[str, str]]) -> str | None:
        """``question`` rewritten to stand alone, given the earlier (role, text) turns; None
        when this answerer cannot rewrite (then a rule does, see ``rag.api``)."""
        return None


def abstain(question: str, language: str | None = None) -> Iterator[str | Answer]:
    """The abstention as a stream: its text, then the ``Answer`` (no citations)."""
    text = ABSTENTION[language or detect_language(question)]
    yield text
    yield abstention(question, language)


def abstention(question: str, language: str | None = None) -> Answer:
    """The answer that says the documents do not contain the answer, in the question's language."""
    return Answer(ABSTENTION[language or detect_language(question)], [], abstained=True, query=question)
