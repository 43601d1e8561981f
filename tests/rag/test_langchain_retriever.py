"""LangChain's own standard suite for retrievers (``langchain-tests``) run against
``rag.retriever``: a real RAG (the real embedder, an embedded Chroma in a temporary folder) over a
few short French and English files written here, so that there are more passages than any ``k``
the suite asks for."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.retriever import HybridRetriever

# One paragraph each, short enough to be one passage each: six passages in all.
DOCS = {
    "pourparlers.txt": "Les pourparlers entre la Russie et les États-Unis commenceront le 10 "
    "janvier à Genève, a annoncé le Kremlin.",
    "otan.txt": "L'OTAN tiendra une réunion avec la Russie le 12 janvier à Bruxelles pour "
    "discuter de la sécurité en Europe.",
    "gaz.txt": "Le prix du gaz en Europe a atteint un niveau record en décembre, porté par "
    "la demande et des livraisons russes en baisse.",
    "talks.txt": "Talks between Russia and the United States will start on January 10 in "
    "Geneva, the Kremlin said.",
    "weather.txt": "Heavy snow closed several mountain passes in the Alps on Sunday and "
    "delayed trains between Geneva and Milan.",
    "football.txt": "The football club announced a new coach on Monday after a run of five "
    "defeats in the league.",
}
QUESTION = "Quand commenceront les pourparlers entre la Russie et les États-Unis ?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, real_embedder):
    """A RAG holding DOCS, built once for the module; yields (rag, {path: text})."""
    from rag import RAG

    root = tmp_path_factory.mktemp("langchain-retriever")
    docs = root / "docs"
    docs.mkdir()
    texts = {}
    for name, text in DOCS.items():
        (docs / name).write_text(text + "\n", encoding="utf-8")
        texts[str(docs / name)] = text + "\n"
    rag = RAG(data_dir=root / "data", embedder=real_embedder)
    rag.ingest([docs])
    yield rag, texts
    rag.close()


@pytest.mark.anyio  # the suite's ainvoke test is a coroutine: anyio's plugin runs it on asyncio
class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _rag(self, corpus):
        self.rag = corpus[0]

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"rag": self.rag}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_invoke_k_gives_k_documents_with_passage_fields(corpus):
    rag, texts = corpus
    assert len(texts) > 1
    docs = rag.retriever.invoke(QUESTION, k=1)
    assert len(docs) == 1
    doc = docs[0]
    assert isinstance(doc, Document)
    meta = doc.metadata
    for field in ("source", "start", "end", "score", "title", "date", "page", "language",
                  "section", "id"):
        assert field in meta
    assert meta["source"] in texts
    assert doc.page_content == texts[meta["source"]][meta["start"]:meta["end"]]
    assert doc.id == meta["id"]


@pytest.mark.anyio
async def test_call_arguments_win_over_the_retrievers_own(corpus):
    rag, texts = corpus
    retriever = HybridRetriever(rag=rag, k=3)
    assert len(retriever.invoke(QUESTION)) == 3
    assert len(await retriever.ainvoke(QUESTION, k=2)) == 2  # ainvoke passes k on too
    only = next(iter(texts))
    docs = retriever.invoke(QUESTION, filters={"sources": [only]})
    assert docs and {d.metadata["source"] for d in docs} == {only}
    with pytest.raises(ValueError, match="k must be a positive whole number"):
        retriever.invoke(QUESTION, k=0)
