"""One real embedder for the whole session (loading it takes seconds), remembering the vectors it
made; everything else per test. A Chroma server (`chroma run`) for the session, started by the
first test that asks for it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import NEWS_FR, missing, require_module
from vectorstore.embeddings import SentenceTransformerEmbedder

ARTICLE_QUESTION = "Quand commenceront les pourparlers entre la Russie et les États-Unis ?"


def require_llama() -> None:
    """llama-cpp-python and the default GGUF model (`make llm` installs both): without them the
    LLM tests are skipped on a developer's machine, and fail under CI=true."""
    from rag.llms import LLMError, gguf_path

    require_module("llama_cpp", "llama-cpp-python is not installed (`make llm` installs it; `make test` does)")
    try:
        gguf_path(None)
    except LLMError as exc:
        missing(str(exc))


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


class MemoEmbedder(SentenceTransformerEmbedder):
    """The real default model, remembering each (text, query) vector it made. Many tests embed the
    same chunks and questions (the test article above all) and the model is deterministic, so a
    text seen before costs nothing: embedding was most of the fast tier's time. The embedder's
    own tests (tests/vectorstore) use uncached instances."""

    def __init__(self):
        super().__init__()
        self._memo: dict[tuple[str, bool], np.ndarray] = {}

    def encode(self, texts, *, query=False):
        missing = list(dict.fromkeys(t for t in texts if (t, query) not in self._memo))
        if missing:
            for text, vector in zip(missing, super().encode(missing, query=query)):
                self._memo[text, query] = vector
        if not texts:
            return super().encode(texts, query=query)
        return np.stack([self._memo[t, query] for t in texts])  # a new array: callers may change it


@pytest.fixture(scope="session")
def real_embedder():
    embedder = MemoEmbedder()
    embedder.identity  # load once
    return embedder


@pytest.fixture
def embedder(real_embedder):
    return CountingEmbedder(real_embedder)


class ChromaServer:
    """`chroma run --path PATH --host 127.0.0.1 --port PORT` as a process that can be stopped and
    started again (same port, same database)."""

    def __init__(self, path: Path):
        self.path = path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
        with open(self.path.parent / f"{self.path.name}.log", "ab") as log:
            self.process = subprocess.Popen(
                [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"`chroma run` did not start; see {log.name}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def reset(self) -> None:
        """Drop every collection of the server, so a test starts from an empty store."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        client = chromadb.HttpClient(
            host="127.0.0.1", port=self.port, settings=ChromaSettings(anonymized_telemetry=False)
        )
        for collection in client.list_collections():
            client.delete_collection(collection if isinstance(collection, str) else collection.name)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chroma_settings() -> dict:
    """The settings that pick the Chroma of ``make_rag``: none, the embedded one in data_dir. A
    test module overrides this fixture to run its tests against a server too (test_api.py)."""
    return {}


@pytest.fixture
def server_settings(chroma_server) -> dict:
    """Settings for the session's Chroma server, emptied for this test."""
    chroma_server.reset()
    return {"chroma_url": chroma_server.url}


@pytest.fixture
def make_rag(tmp_path, embedder, chroma_settings):
    from rag import RAG

    made = []

    def make(**settings):
        rag = RAG(data_dir=tmp_path / "data", embedder=embedder, **{**chroma_settings, **settings})
        made.append(rag)
        return rag

    yield make
    for rag in made:
        rag.close()


ARTICLE = NEWS_FR / "2021-12-pourparlers-otan.txt"


@pytest.fixture
def article(tmp_path) -> Path:
    """A copy of the test article, tests/data/news-fr (the copy can be changed and deleted)."""
    src = ARTICLE
    dst = tmp_path / "docs" / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


@pytest.fixture(scope="session")
def article_text() -> tuple[Path, str]:
    """The test article, read in place: (path, text)."""
    return ARTICLE, ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def paragraphs(article_text):
    """The article's paragraphs, as a retriever would hand them out (offsets into the file)."""
    import re

    from ingest.language import detect_language
    from rag.types import Passage

    path, text = article_text
    spans = [m.span() for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    return [
        Passage(text=text[s:e], source=str(path), title="news", date="2021-12", page=None,
                start=s, end=e, score=1.0 / (1 + i), id=str(i), language=detect_language(text))
        for i, (s, e) in enumerate(spans)
    ]
