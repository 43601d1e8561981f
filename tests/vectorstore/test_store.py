"""The store's contract, tested directly: a version is begun, added to, committed or aborted;
documents, search, check, repair and reset. Every test runs on the embedded Chroma and on a Chroma
server (`chroma run`), with the real embedding model's vectors; the server runs are marked slow
(the same calls; server mode has its own fast tests, tests/rag/test_server_mode.py)."""

from __future__ import annotations

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from tests.rag.conftest import chroma_server, real_embedder  # noqa: F401  (shared fixtures)
from vectorstore.embeddings import EmbedderIdentity
from vectorstore.records import Chunk, Health, contextual_text
from vectorstore.errors import StoreMismatchError
from vectorstore.store import ChunkStore

CHUNKING = {"tokens": 400, "overlap": 80, "text": "title+chunk"}

ORCHARD = [  # one document's chunks: text, start
    ("Le verger de Plougastel compte trois cents fraisiers.", 0),
    ("La récolte des fraises commence en mai et finit en juillet.", 55),
    ("Les pommiers du verger donnent des pommes à cidre en octobre.", 116),
]
TIDES = "Tide tables for Brest are published every December for the following year."


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.slow)])
def client(request, tmp_path):
    settings = ChromaSettings(anonymized_telemetry=False)
    if request.param == "embedded":
        return chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=settings)
    server = request.getfixturevalue("chroma_server")
    server.reset()
    return chromadb.HttpClient(host="127.0.0.1", port=server.port, settings=settings)


@pytest.fixture
def store(client, tmp_path, real_embedder):  # noqa: F811
    s = ChunkStore(client, tmp_path / "keyword.sqlite3", real_embedder.identity, CHUNKING)
    yield s
    s.close()


def chunks_of(source: str, doc_hash: str, texts=ORCHARD, **fields) -> list[Chunk]:
    return [Chunk(source=source, doc_hash=doc_hash, index=i, text=t, start=s, end=s + len(t),
                  language="fr", **fields) for i, (t, s) in enumerate(texts)]


def write(store: ChunkStore, embedder, chunks: list[Chunk], *, commit: bool = True) -> None:
    store.begin(chunks[0].source, chunks[0].doc_hash)
    store.add(chunks, embedder.encode([contextual_text(c) for c in chunks]).tolist())
    if commit:
        store.commit([(chunks[0].source, chunks[0].doc_hash)])


def test_a_version_counts_only_once_committed(store, real_embedder):  # noqa: F811
    chunks = chunks_of("/d/verger.txt", "a" * 64, title="Le verger", date="2021-05", page=2,
                       section="Récolte")
    write(store, real_embedder, chunks, commit=False)
    # chunk 0 is held back: nothing is listed, searched or keyword-indexed yet
    assert store.documents() == {} and store.count() == len(chunks) - 1
    assert store.keyword.count() == 0
    store.commit([("/d/verger.txt", "a" * 64)])
    doc = store.documents()["/d/verger.txt"]
    assert (doc.doc_hash, doc.title, doc.date, doc.language, doc.chunks) == ("a" * 64, "Le verger", "2021-05", "fr", 3)
    assert store.get([c.id for c in chunks]) == {c.id: c for c in chunks}  # every field round-trips
    assert store.chunks("/d/verger.txt", "a" * 64) == chunks
    assert store.keyword.ids() == {c.id for c in chunks}
    assert store.check() == Health()


def test_search_with_filters(store, real_embedder):  # noqa: F811
    write(store, real_embedder, chunks_of("/d/verger.txt", "a" * 64, date="2021-05"))
    write(store, real_embedder, chunks_of("/d/marees.txt", "b" * 64, [(TIDES, 0)], date="2023-12"))
    vector = real_embedder.encode(["Quand commence la récolte des fraises ?"], query=True)[0]
    hits = store.dense_search(vector, 2)
    assert hits[0].chunk.text == ORCHARD[1][0] and hits[0].score > hits[1].score
    assert [h.chunk.source for h in store.dense_search(vector, 5, sources=["/d/marees.txt"])] == ["/d/marees.txt"]
    assert {h.chunk.source for h in store.dense_search(vector, 5, date_from="2022")} == {"/d/marees.txt"}
    assert {h.chunk.source for h in store.dense_search(vector, 5, date_to="2021-05-31")} == {"/d/verger.txt"}
    best, _ = store.keyword_search("récolte des fraises", 5, language="fr")[0]
    assert store.get([best])[best].text == ORCHARD[1][0]
    assert store.keyword_search("fraises", 5, sources=["/d/marees.txt"]) == []
    assert store.keyword_search("fraises", 5, date_from="2023-01") == []


def test_a_new_version_replaces_the_old_one_on_commit(store, real_embedder):  # noqa: F811
    old = chunks_of("/d/verger.txt", "a" * 64)
    write(store, real_embedder, old)
    new = chunks_of("/d/verger.txt", "c" * 64, ORCHARD[:2])
    write(store, real_embedder, new, commit=False)
    assert store.documents()["/d/verger.txt"].doc_hash == "a" * 64  # until the commit
    store.commit([("/d/verger.txt", "c" * 64)])
    assert store.documents()["/d/verger.txt"].doc_hash == "c" * 64
    assert store.count() == 2 and store.keyword.ids() == {c.id for c in new}
    assert store.get([c.id for c in old]) == {}  # a chunk's id holds its version's hash
    assert store.check() == Health()


def test_abort_deletes_what_the_version_wrote(store, real_embedder):  # noqa: F811
    write(store, real_embedder, chunks_of("/d/marees.txt", "b" * 64, [(TIDES, 0)]))
    write(store, real_embedder, chunks_of("/d/verger.txt", "a" * 64), commit=False)
    store.abort("/d/verger.txt", "a" * 64)
    assert list(store.documents()) == ["/d/marees.txt"] and store.count() == 1
    with pytest.raises(KeyError):
        store.commit([("/d/verger.txt", "a" * 64)])  # an aborted version is no longer open


def test_misuse_is_refused(store, real_embedder):  # noqa: F811
    chunks = chunks_of("/d/verger.txt", "a" * 64)
    vectors = real_embedder.encode([c.text for c in chunks]).tolist()
    with pytest.raises(ValueError, match="begin it first"):
        store.add(chunks, vectors)
    store.begin("/d/verger.txt", "a" * 64)
    with pytest.raises(ValueError, match="3 chunks but 2 vectors"):
        store.add(chunks, vectors[:2])
    store.add(chunks[1:], vectors[1:])
    with pytest.raises(ValueError, match="no chunk 0"):
        store.commit([("/d/verger.txt", "a" * 64)])


def test_check_finds_what_a_crash_leaves_and_repair_removes_it(store, real_embedder):  # noqa: F811
    write(store, real_embedder, chunks_of("/d/verger.txt", "a" * 64))
    write(store, real_embedder, chunks_of("/d/verger.txt", "c" * 64), commit=False)  # the crash
    write(store, real_embedder, chunks_of("/d/marees.txt", "b" * 64, [(TIDES, 0)]))
    lost = chunks_of("/d/verger.txt", "a" * 64)[2]
    store.collection.delete(ids=[lost.id])
    health = store.check()
    assert health == Health(incomplete={"/d/verger.txt": (2, 3)}, orphans=2, orphan_versions=1,
                            keyword_extra=1)
    assert health.problems() == [
        "/d/verger.txt: 2 chunks stored, 3 expected",
        "2 orphan chunks (of 1 interrupted or superseded versions)",
        "keyword index out of step with Chroma: 0 chunks missing, 1 extra",
    ]
    assert store.repair() == (2, 1)
    assert store.check() == Health(incomplete={"/d/verger.txt": (2, 3)})  # re-indexing is rag's job
    store.remove("/d/verger.txt")
    assert list(store.documents()) == ["/d/marees.txt"] and store.check() == Health()


def test_repair_keeps_the_version_asked_for(store, real_embedder, monkeypatch):  # noqa: F811
    first, second = chunks_of("/d/verger.txt", "a" * 64), chunks_of("/d/verger.txt", "c" * 64)
    write(store, real_embedder, first)

    def crash(current):  # a commit that stops after writing chunk 0, before its cleanup
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_keyword_index", crash)
    with pytest.raises(KeyboardInterrupt):
        write(store, real_embedder, second)
    monkeypatch.undo()
    assert store.check().versions == {"/d/verger.txt": ["a" * 64, "c" * 64]}
    assert store.repair(keep={"/d/verger.txt": "a" * 64})[0] == 3
    assert store.documents()["/d/verger.txt"].doc_hash == "a" * 64
    assert store.check() == Health() and store.chunks("/d/verger.txt", "a" * 64) == first


def test_reset_empties_a_store_built_with_another_model(client, tmp_path, real_embedder):  # noqa: F811
    store = ChunkStore(client, tmp_path / "keyword.sqlite3", real_embedder.identity, CHUNKING)
    write(store, real_embedder, chunks_of("/d/verger.txt", "a" * 64))
    store.close()
    other = EmbedderIdentity("another-model", "0" * 64, 8, 128)
    with pytest.raises(StoreMismatchError, match="rag reindex"):
        ChunkStore(client, tmp_path / "keyword.sqlite3", other, CHUNKING)
    assert ChunkStore.reset(client, tmp_path / "keyword.sqlite3") == ["/d/verger.txt"]
    assert not list(tmp_path.glob("keyword.sqlite3*"))
    fresh = ChunkStore(client, tmp_path / "keyword.sqlite3", other, CHUNKING)
    assert fresh.documents() == {} and fresh.count() == 0 and fresh.keyword.count() == 0
    fresh.close()
    assert ChunkStore.reset(client, tmp_path / "keyword.sqlite3") == []
