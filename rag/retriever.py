"""Hybrid retrieval: dense (Chroma) and keyword (BM25) rankings fused (by normalised scores, or
by reciprocal rank), with the same source and date filters applied to both sides. The keyword
side analyses the question with its own language's rules when its words tell which. Usable as a
LangChain ``BaseRetriever``."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from .types import Passage


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents (their paths) and/or a date range (YYYY[-MM[-DD]])."""

    sources: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None

    @classmethod
    def coerce(cls, value: Filters | dict | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        unknown = set(value) - {"sources", "date_from", "date_to"}
        if unknown:
            raise ValueError(f"unknown filter(s) {sorted(unknown)}: use sources, date_from, date_to")
        return cls(list(value.get("sources") or []), value.get("date_from"), value.get("date_to"))


def hybrid_search(store, embedder, question: str, *, k: int, candidates: int, fusion: str,
                  fusion_k: int, weights: tuple[float, float], filters: Filters) -> list[Passage]:
    from ingest.language import guess_language
    from vectorstore.fusion import convex_combination, reciprocal_rank_fusion
    from vectorstore.store import chroma_where

    where = chroma_where(filters.sources, filters.date_from, filters.date_to)
    n = max(candidates, k)
    dense = store.dense_search(embedder.embed_query(question), n, where) if weights[0] else []
    keyword = store.keyword.search(
        question, n, sources=filters.sources or None, date_from=filters.date_from,
        date_to=filters.date_to, language=guess_language(question),
    ) if weights[1] else []
    if fusion == "rrf":
        fused = reciprocal_rank_fusion(
            [[h.id for h in dense], [i for i, _ in keyword]], k=fusion_k, weights=list(weights)
        )[:k]
    else:
        fused = convex_combination(  # cosines have no natural zero, BM25 scores do
            [[(h.id, h.score) for h in dense], keyword], weights=list(weights), floors=[None, 0.0]
        )[:k]
    hits = {h.id: h for h in dense}
    hits.update(store.get([i for i, _ in fused if i not in hits]))
    return [_passage(hits[i], score) for i, score in fused if i in hits]


def _passage(hit, score: float) -> Passage:
    m = hit.metadata
    return Passage(
        text=hit.text, source=m["source"], title=m.get("title"), date=m.get("date"),
        page=m.get("page"), start=m["start"], end=m["end"], score=score, id=hit.id,
        language=m.get("language", "en"), section=m.get("section"),
    )


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
        k = self.k if k is None else k
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
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
