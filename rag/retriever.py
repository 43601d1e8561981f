"""Hybrid retrieval: dense (Chroma) and keyword (BM25) rankings fused (by normalised scores, or
by reciprocal rank), with the same source and date filters applied to both sides. The keyword
side analyses the question with its own language's rules when its words tell which. Usable as a
LangChain ``BaseRetriever``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from ingest.loaders.base import calendar_date

from .errors import FilterError
from .types import Passage

if TYPE_CHECKING:
    from vectorstore.embeddings import Embedder
    from vectorstore.store import ChunkStore


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents (their paths) and/or a date range: dates are 'YYYY',
    'YYYY-MM' or 'YYYY-MM-DD', real calendar dates, ``date_from`` not after ``date_to``. This is
    where filter dates are validated, for every interface: a bad one is a ``FilterError`` naming
    the field."""

    sources: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None

    def __post_init__(self):
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise FilterError(f"{name} must be a string like 2024-03, got {value!r}")
            value = (value or "").strip() or None
            object.__setattr__(self, name, value)
            if value and not calendar_date(value):
                raise FilterError(f"{name}: {value!r} is not a date like 2024, 2024-03 or 2024-03-15")
        if self.date_from and self.date_to and self.date_to < self.date_from[: len(self.date_to)]:
            raise FilterError(f"date_from {self.date_from} is after date_to {self.date_to}")

    @classmethod
    def coerce(cls, value: Filters | dict | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        if not isinstance(value, dict):
            raise FilterError(f"filters must be a dict with sources, date_from, date_to; got {value!r}")
        unknown = set(value) - {"sources", "date_from", "date_to"}
        if unknown:
            raise FilterError(f"unknown filter(s) {sorted(unknown)}: use sources, date_from, date_to")
        return cls(list(value.get("sources") or []), value.get("date_from"), value.get("date_to"))


def hybrid_search(store: ChunkStore, embedder: Embedder, question: str, *, k: int, candidates: int,
                  fusion: str, fusion_k: int, weights: tuple[float, float],
                  filters: Filters) -> list[Passage]:
    from ingest.language import guess_language
    from vectorstore.fusion import convex_combination, reciprocal_rank_fusion

    scope = {"sources": filters.sources, "date_from": filters.date_from, "date_to": filters.date_to}
    n = max(candidates, k)
    dense = store.dense_search(embedder.encode([question], query=True)[0], n, **scope) if weights[0] else []
    keyword = store.keyword_search(question, n, language=guess_language(question), **scope) if weights[1] else []
    if fusion == "rrf":
        fused = reciprocal_rank_fusion(
            [[h.chunk.id for h in dense], [i for i, _ in keyword]], k=fusion_k, weights=list(weights)
        )[:k]
    else:
        fused = convex_combination(  # cosines have no natural zero, BM25 scores do
            [[(h.chunk.id, h.score) for h in dense], keyword], weights=list(weights), floors=[None, 0.0]
        )[:k]
    chunks = {h.chunk.id: h.chunk for h in dense}
    chunks.update(store.get([i for i, _ in fused if i not in chunks]))
    return [Passage.of(chunks[i], score) for i, score in fused if i in chunks]


def to_document(p: Passage) -> Document:
    meta = {k: v for k, v in vars(p).items() if k != "text"}
    return Document(page_content=p.text, metadata=meta, id=p.id or None)


class HybridRetriever(BaseRetriever):
    """The RAG object's retrieval as a LangChain retriever (Documents carry Passage fields).
    ``k`` and ``filters`` are set on the retriever or per call (``invoke(q, k=1)``), the call's
    winning; unset, the RAG's settings decide."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    rag: object
    k: int | None = Field(None, ge=1)
    filters: dict | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None, filters: dict | None = None,
    ) -> list[Document]:
        # BaseRetriever.invoke hands its keyword arguments on to here, not to a field
        k = self.k if k is None else k  # RAG.retrieve refuses k < 1
        filters = self.filters if filters is None else filters
        return [to_document(p) for p in self.rag.retrieve(query, k=k, filters=filters)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None, filters: dict | None = None,
    ) -> list[Document]:
        # the inherited one takes neither: ainvoke(q, k=1) raised TypeError
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(),
            k=k, filters=filters,
        )
