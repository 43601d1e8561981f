"""One real embedder for the whole session (loading it takes seconds); everything else per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vectorstore.embeddings import SentenceTransformerEmbedder

ARTICLE_QUESTION = "Quand commenceront les pourparlers entre la Russie et les États-Unis ?"


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (to prove what is not)."""

    def __init__(self, inner):
        self.inner = inner
        self.embedded = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, *, query=False):
        self.embedded += len(texts)
        return self.inner.encode(texts, query=query)


@pytest.fixture(scope="session")
def real_embedder():
    embedder = SentenceTransformerEmbedder()
    embedder.identity  # load once
    return embedder


@pytest.fixture
def embedder(real_embedder):
    return CountingEmbedder(real_embedder)


@pytest.fixture
def make_rag(tmp_path, embedder):
    from rag import RAG

    made = []

    def make(**settings):
        rag = RAG(data_dir=tmp_path / "data", embedder=embedder, **settings)
        made.append(rag)
        return rag

    yield make
    for rag in made:
        rag.close()


@pytest.fixture
def article(tmp_path, shared_dir) -> Path:
    """A copy of the shared sample article (the copy can be changed and deleted)."""
    src = next((shared_dir / "corpus" / "news-fr").glob("*.txt"))
    dst = tmp_path / "docs" / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst
