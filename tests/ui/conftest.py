"""One running app per test session: a RAG over a tmp copy of the sample documents and the test
news article (tests/data/news-fr), served on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import NEWS_FR
from tests.rag.conftest import ARTICLE_QUESTION, real_embedder  # noqa: F401  (shared fixture)

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = REPO / "rag" / "sample_docs"
GUIDE_QUESTION = "How do I remove a document?"
OFF_TOPIC_QUESTION = "What is the boiling point of liquid nitrogen on Neptune?"

__all__ = ["ARTICLE_QUESTION", "GUIDE_QUESTION", "HTTP", "OFF_TOPIC_QUESTION", "REPO", "free_port"]

HTTP = httpx.Client(timeout=120)
"""The tests' HTTP client. An answer can take seconds on a loaded machine (a fresh server embeds
its passages' sentences at its first answers) and no test times one: not httpx's 5 s default."""


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


API_KEY = "test-key-5f1c"


def corpus(root: Path) -> Path:
    """A tmp copy of what the served instance indexes: the sample documents and the test news
    article."""
    docs = root / "docs"
    shutil.copytree(SAMPLE_DOCS, docs / "sample")
    shutil.copytree(NEWS_FR, docs / "news-fr")
    return docs


def news_and_harbours(root: Path, embedder):
    """A ``RAG`` over ``root/data`` whose default collection holds the test article and whose
    collection 'harbours' the three harbour articles (tests/data/eval/harbours-en)."""
    from rag import RAG
    from tests.conftest import EVAL

    shutil.copytree(NEWS_FR, root / "news")
    shutil.copytree(EVAL / "harbours-en" / "docs", root / "harbours")
    rag = RAG(data_dir=root / "data", embedder=embedder)
    assert rag.ingest([root / "news"]).added
    rag.create_collection("harbours")
    assert len(rag.collection("harbours").ingest([root / "harbours"]).added) == 3
    return rag


def _clean_env() -> dict:
    """This environment without the developer's RAG_* settings (the model cache excepted): a
    session fixture starts before the per-test isolation clears them."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE_DIR"}


class Served:
    """`rag serve` as a process on a free loopback port, with an API key."""

    def __init__(self, data_dir: Path, log: Path, *args: str, env: dict | None = None):
        import subprocess
        import sys

        self.port, self.key = free_port(), API_KEY
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rag", "--data-dir", str(data_dir), "serve", "--port",
                 str(self.port), "--api-key", self.key, *args],
                cwd=REPO, env={**_clean_env(), **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        self.log = log

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"rag serve exited: {self.log.read_text()[-2000:]}")
        try:
            return HTTP.get(f"{self.url}/api/health", headers=self.headers()).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def served(tmp_path_factory, real_embedder):  # noqa: F811
    """One `rag serve` process over an ingested copy of the corpus, for the session."""
    from rag import RAG
    from tests.conftest import wait_until

    root = tmp_path_factory.mktemp("served")
    docs = corpus(root)
    with RAG(data_dir=root / "data", embedder=real_embedder) as rag:
        report = rag.ingest([docs])
        assert not report.failed and report.added
    server = Served(root / "data", root / "serve.log")
    try:
        wait_until(server.ready, timeout=180, what="rag serve answers /api/health")
        server.docs = docs
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running(app):
    """Serve an ASGI ``app`` with uvicorn on a free loopback port in a thread; yields its URL."""
    import threading

    import uvicorn

    from tests.conftest import wait_until

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn started")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
