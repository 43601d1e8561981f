"""One running app per test session: a RAG over a tmp copy of the sample documents and the test
news article (tests/data/news-fr), served on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import NEWS_FR
from tests.rag.conftest import ARTICLE_QUESTION, real_embedder  # noqa: F401  (shared fixture)

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = REPO / "rag" / "sample_docs"
GUIDE_QUESTION = "How do I remove a document?"
OFF_TOPIC_QUESTION = "What is the boiling point of liquid nitrogen on Neptune?"

__all__ = ["ARTICLE_QUESTION", "GUIDE_QUESTION", "OFF_TOPIC_QUESTION", "REPO", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def source_text(path: str) -> str:
    """The text citation offsets index for .txt/.md: the UTF-8 decoded file content."""
    return Path(path).read_bytes().decode("utf-8")


@pytest.fixture(scope="session")
def ui(tmp_path_factory, real_embedder):  # noqa: F811
    from rag import RAG
    from ui.app import launch

    root = tmp_path_factory.mktemp("ui")
    docs = root / "docs"
    shutil.copytree(SAMPLE_DOCS, docs / "sample")
    shutil.copytree(NEWS_FR, docs / "news-fr")
    rag = RAG(data_dir=root / "data", embedder=real_embedder)
    report = rag.ingest([docs])
    assert not report.failed and report.added
    app = launch(rag, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(root=root, docs=docs, data_dir=root / "data", rag=rag, app=app,
                              url=app.local_url)
    finally:
        app.close()
        rag.close()


@pytest.fixture(scope="session")
def client(ui):
    from gradio_client import Client

    return Client(ui.url, verbose=False)
