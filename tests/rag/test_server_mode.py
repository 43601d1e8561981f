"""Running against a Chroma server (`chroma_url`): several processes sharing it, each with its own
keyword index; a server that is down; a server restarting in the middle of a write. (The API's
own tests run on a server too: see test_api.py.)"""

from __future__ import annotations

import threading

import pytest

import vectorstore.retrying
import vectorstore.store
from rag import RAG
from rag.cli import main
from tests.conftest import wait_until
from tests.rag.conftest import ARTICLE_QUESTION, ChromaServer
from vectorstore.errors import ChromaUnavailableError

NEW_TEXT = "date 2022-01 Nouvelles négociations\n\nLes discussions reprendront à Genève le 10 janvier.\n"


def _chroma_ids(rag) -> set[str]:
    return set(rag.store.collection.get(include=[])["ids"])


@pytest.fixture
def own_server(chroma_server):
    """The session's server, emptied, for this test to stop and restart (a start takes a second or
    more: one server serves them all); started again after a test that left it stopped."""
    if chroma_server.process is None:
        chroma_server.start()
    chroma_server.reset()
    yield chroma_server
    if chroma_server.process is None:
        chroma_server.start()


@pytest.fixture
def open_rag(tmp_path, embedder):
    made = []

    def open_(name: str, url: str, **settings) -> RAG:
        rag = RAG(data_dir=tmp_path / name, embedder=embedder, chroma_url=url, **settings)
        made.append(rag)
        return rag

    yield open_
    for rag in made:
        rag.close()


class _StopServerBefore:
    """The store's collection, with the server stopped just before the first call of `method`;
    started again `restart_after` seconds later (None: not)."""

    def __init__(self, collection, server: ChromaServer, method: str, restart_after: float | None):
        self.inner, self.server, self.method, self.restart_after = collection, server, method, restart_after
        self.restart: threading.Timer | None = None
        self.fired = False

    def __getattr__(self, name):
        value = getattr(self.inner, name)
        if name != self.method or self.fired:
            return value
        self.fired = True
        self.server.stop()
        if self.restart_after is not None:
            self.restart = threading.Timer(self.restart_after, self.server.start)
            self.restart.start()
        return value


def test_two_processes_share_one_server_and_keyword_search_follows(
    open_rag, server_settings, article, monkeypatch
):
    monkeypatch.setattr(vectorstore.store, "KEYWORD_SYNC_SECONDS", 0.2)
    url = server_settings["chroma_url"]
    writer = open_rag("a", url)
    reader = open_rag("b", url, dense_weight=0.0)  # answers from its keyword index alone
    assert reader.sources() == [] and reader.store.keyword.count() == 0

    writer.ingest([article])
    ids = _chroma_ids(writer)
    assert ids  # the reader's index follows at its next check, one sync interval later at most
    wait_until(lambda: reader.store.keyword.ids() == ids, what="the reader indexes the new chunks")
    assert reader.store.keyword.ids() == ids == writer.store.keyword.ids()
    passages = reader.retrieve(ARTICLE_QUESTION, k=3)
    assert passages and all(p.source == str(article) for p in passages)
    assert any("immédiatement après" in p.text for p in passages)
    assert [d.source for d in reader.sources()] == [str(article)]

    article.write_text(NEW_TEXT, encoding="utf-8")
    assert writer.ingest([article]).updated == [str(article)]
    new_ids = _chroma_ids(writer)
    wait_until(lambda: reader.store.keyword.ids() == new_ids, what="the reader follows the update")
    assert reader.store.keyword.ids() == _chroma_ids(writer) and reader.store.keyword.ids().isdisjoint(ids)
    assert reader.retrieve("Où reprendront les discussions ?", k=1)[0].text.endswith("10 janvier.")

    writer.remove([article])
    wait_until(lambda: reader.store.keyword.count() == 0, what="the reader drops the removed chunks")
    assert reader.retrieve(ARTICLE_QUESTION) == []


def test_a_new_process_indexes_what_the_server_holds(open_rag, server_settings, article):
    url = server_settings["chroma_url"]
    open_rag("a", url).ingest([article])
    late = open_rag("b", url)
    ids = _chroma_ids(late)
    assert late.store.keyword.ids() == ids
    assert late.store.sync_keyword() == 0  # nothing left to do
    late.store.keyword.delete(list(ids))  # a document's chunks gone: its version is unknown
    assert late.store.sync_keyword() == 1 and late.store.keyword.ids() == ids


def test_a_server_that_is_down_is_a_one_line_error_with_the_fix(open_rag, tmp_path, capsys, monkeypatch):
    down = ChromaServer(tmp_path / "never-started")
    rag = open_rag("a", down.url)
    fix = f"`chroma run --path DIR --host 127.0.0.1 --port {down.port}`"
    with pytest.raises(ChromaUnavailableError) as caught:
        rag.sources()
    assert down.url in str(caught.value) and fix in str(caught.value)

    monkeypatch.setenv("RAG_CHROMA_URL", down.url)
    assert main(["--data-dir", str(tmp_path / "cli"), "sources"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rag: error: The Chroma server at") and fix in err


def test_a_server_restarting_during_a_replacement_is_waited_for(
    open_rag, own_server, article, caplog
):
    rag = open_rag("a", own_server.url)
    rag.ingest([article])
    article.write_text(NEW_TEXT, encoding="utf-8")
    rag.store.collection = stop = _StopServerBefore(rag.store.collection, own_server, "delete", 0.25)
    report = rag.ingest([article])
    stop.restart.join()
    assert report.updated == [str(article)]
    assert any("did not answer" in r.getMessage() for r in caplog.records)
    ids = _chroma_ids(rag)
    assert len(ids) == report.chunks and rag.store.keyword.ids() == ids
    assert [d.title for d in rag.sources()] == ["Nouvelles négociations"]


@pytest.mark.parametrize("method", ["upsert", "delete"])
def test_a_write_that_fails_leaves_the_old_or_the_new_version_and_repair_cleans_up(
    open_rag, own_server, article, monkeypatch, method
):
    """The server goes away before the new version's chunks are written (upsert), or after, before
    the old version's are dropped (delete), and does not come back in time."""
    monkeypatch.setattr(vectorstore.retrying, "RETRY_SECONDS", 0.3)  # one retry, then the error
    rag = open_rag("a", own_server.url)
    rag.ingest([article])
    old_ids, old_hash = _chroma_ids(rag), rag.sources()[0].doc_hash
    article.write_text(NEW_TEXT, encoding="utf-8")
    collection = rag.store.collection
    rag.store.collection = _StopServerBefore(collection, own_server, method, None)
    with pytest.raises(ChromaUnavailableError, match="retried for"):
        rag.ingest([article])
    own_server.start()
    rag.store.collection = collection

    (listed,) = rag.sources()  # one complete version: the old one, or (delete) maybe the new one
    assert listed.doc_hash == old_hash or method == "delete"
    listed_ids = set(collection.get(where={"doc_hash": listed.doc_hash}, include=[])["ids"])
    assert listed_ids == old_ids or listed.doc_hash != old_hash
    assert rag.store.keyword.ids() == listed_ids  # only ever complete versions
    before = _chroma_ids(rag)
    removed, _ = rag.repair()
    assert _chroma_ids(rag) == listed_ids == rag.store.keyword.ids()
    assert removed == len(before - listed_ids) and rag.repair() == (0, 0)

    rag.ingest([article])  # the new version, if it is not the one listed already
    (doc,) = rag.sources()
    assert doc.title == "Nouvelles négociations" and doc.chunks == len(_chroma_ids(rag))
    assert _chroma_ids(rag) == rag.store.keyword.ids()


def test_chroma_url_must_be_a_server_address(open_rag):
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        open_rag("a", "127.0.0.1:8000").sources()
