"""Collections: named sets of documents in one data dir, each its own Chroma collection and
keyword index, on real files, real Chroma and the real model."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.collections import UnknownCollectionError
from rag.errors import UsageError
from tests.conftest import DATA, EVAL

HARBOURS = EVAL / "harbours-en" / "docs"
VILLES = EVAL / "villes-fr" / "docs"
PIER = "Who built the stone pier of Port Ellery?"
BELL = "Quand la cloche des perdus a-t-elle été refondue ?"


@pytest.fixture
def docs(tmp_path) -> Path:
    """Copies of the three harbour articles and three village articles."""
    folder = tmp_path / "docs"
    shutil.copytree(HARBOURS, folder / "harbours")
    (folder / "villes").mkdir()
    for name in ("Aubrac-le-Haut.txt", "Dombreuil.txt", "Noirval.txt"):
        shutil.copy(VILLES / name, folder / "villes" / name)
    return folder


def _cited(answer) -> set[str]:
    return {Path(c.source).name for c in answer.citations}


def _two_collections(make_rag, docs):
    """The harbour articles in the default collection, the village articles in 'villes'."""
    rag = make_rag()
    rag.ingest([docs / "harbours"])
    rag.create_collection("villes")
    villes = rag.collection("villes")
    villes.ingest([docs / "villes"])
    return rag, villes


def test_each_collection_answers_from_its_own_documents(make_rag, docs):
    rag = make_rag()
    rag.ingest([docs / "harbours"])
    assert rag.create_collection("villes").name == "villes"
    villes = rag.collection("villes")
    report = villes.ingest([docs / "villes"])
    assert len(report.added) == 3 and not report.failed

    assert "Port_Ellery.txt" in _cited(rag.ask(PIER))
    assert _cited(villes.ask(BELL)) == {"Aubrac-le-Haut.txt"}
    assert "Port_Ellery.txt" not in _cited(villes.ask(PIER))  # not in this collection
    assert "Aubrac-le-Haut.txt" not in _cited(rag.ask(BELL))
    for answer in (villes.ask(BELL), rag.ask(PIER)):
        for c in answer.citations:
            assert Path(c.source).read_text(encoding="utf-8")[c.start:c.end] == c.quote

    listed = {c.name: (c.documents, c.chunks) for c in rag.collections()}
    assert list(listed) == ["default", "villes"]
    assert listed["default"] == (3, sum(d.chunks for d in rag.sources()))
    assert listed["villes"] == (3, sum(d.chunks for d in villes.sources()))
    assert villes.collection_dir == rag.settings.data_dir / "collections" / "villes"
    assert (villes.collection_dir / "keyword.sqlite3").is_file()


def test_a_collection_opened_by_name_is_the_same_one(make_rag, docs):
    rag = make_rag()
    rag.create_collection("villes")
    rag.collection("villes").ingest([docs / "villes"])
    again = make_rag(collection="villes")
    assert sorted(Path(d.source).name for d in again.sources()) == ["Aubrac-le-Haut.txt", "Dombreuil.txt", "Noirval.txt"]
    assert again.collection("default").sources() == []
    assert rag.collection("default") is rag and again.collection("villes") is again


@pytest.mark.parametrize("name", ["../x", "a/b", "A", "with space", "", "-lead", "trail_", "x" * 65,
                                  "rag-cite", "é"])
def test_a_name_that_cannot_be_a_collection_is_refused(make_rag, name):
    rag = make_rag()
    with pytest.raises(UsageError, match="is not a valid collection name"):
        rag.create_collection(name)
    with pytest.raises(ValidationError, match="is not a valid collection name"):
        make_rag(collection=name)
    assert not (rag.settings.data_dir / "collections").exists()


def test_bad_requests_are_clear_and_lose_nothing(make_rag, docs):
    rag, _ = _two_collections(make_rag, docs)
    before = [(c.name, c.documents, c.chunks) for c in rag.collections()]

    with pytest.raises(UsageError, match="a collection named 'villes' already exists"):
        rag.create_collection("villes")
    with pytest.raises(UsageError, match="already exists"):
        rag.create_collection("default")
    with pytest.raises(UsageError, match="default collection cannot be deleted"):
        rag.delete_collection("default")
    with pytest.raises(UnknownCollectionError, match="rag collections create nope"):
        rag.delete_collection("nope")
    for call in (lambda r: r.sources(), lambda r: r.ask(PIER), lambda r: r.ingest([docs / "harbours"])):
        with pytest.raises(UnknownCollectionError, match="no collection 'nope'"):
            call(make_rag(collection="nope"))
    assert [(c.name, c.documents, c.chunks) for c in rag.collections()] == before
    assert not (rag.settings.data_dir / "collections" / "nope").exists()


def test_deleting_a_collection_removes_it_and_nothing_else(make_rag, docs):
    rag, _ = _two_collections(make_rag, docs)
    default_docs = rag.sources()

    removed = rag.delete_collection("villes")
    assert sorted(Path(s).name for s in removed) == ["Aubrac-le-Haut.txt", "Dombreuil.txt", "Noirval.txt"]
    assert [c.name for c in rag.collections()] == ["default"]
    assert not (rag.settings.data_dir / "collections" / "villes").exists()
    assert rag.sources() == default_docs and "Port_Ellery.txt" in _cited(rag.ask(PIER))
    assert all((docs / "villes" / Path(s).name).is_file() for s in removed)  # the files stay
    with pytest.raises(UnknownCollectionError):
        rag.collection("villes").sources()

    rag.create_collection("villes")  # the name can be used again, empty
    assert rag.collection("villes").sources() == []


def test_reindex_and_doctor_work_on_their_collection_only(make_rag, docs):
    rag, villes = _two_collections(make_rag, docs)
    default_ids = set(rag.store.collection.get(include=[])["ids"])

    report = villes.reindex()
    assert len(report.added) == 3 and not report.failed
    assert villes.doctor(repair=False).ok
    assert set(rag.store.collection.get(include=[])["ids"]) == default_ids
    assert len(rag.sources()) == 3 and _cited(villes.ask(BELL)) == {"Aubrac-le-Haut.txt"}


def _dump(path: Path) -> list[str]:
    """The SQL of a SQLite database's schema and rows (its bytes change at any opening)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def test_a_data_dir_of_the_release_before_collections_opens_as_the_default(tmp_path, embedder):
    from rag import RAG

    with tarfile.open(DATA / "release-data-dir" / "data.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    data = tmp_path / "data"
    keyword = _dump(data / "keyword.sqlite3")

    with RAG(data_dir=data, embedder=embedder) as rag:
        stored = rag.store.collection.get(include=["metadatas", "documents", "embeddings"])
        assert [(c.name, c.documents, c.chunks) for c in rag.collections()] == [("default", 3, 3)]
        assert sorted(Path(d.source).name for d in rag.sources()) == [
            "Greywater_Lighthouse.txt", "Port_Ellery.txt", "Saltmarsh_Canal.txt"]
        answer = rag.ask(PIER)
        assert "Port_Ellery.txt" in _cited(answer) and "Thomas Ellery" in answer.text
        rag.create_collection("notes")
        rag.collection("notes").ingest([HARBOURS / "Port_Ellery.txt"])
        rag.delete_collection("notes")
        assert [c.name for c in rag.collections()] == ["default"]
        after = rag.store.collection.get(include=["metadatas", "documents", "embeddings"])
        assert after["ids"] == stored["ids"] and after["metadatas"] == stored["metadatas"]
        assert after["documents"] == stored["documents"]
        assert (after["embeddings"] == stored["embeddings"]).all()
    assert _dump(data / "keyword.sqlite3") == keyword
    files = sorted(p.name for p in data.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert files == ["chroma", "collections", "conversations.sqlite3", "keyword.sqlite3", "write.lock"]


@pytest.mark.slow
def test_collections_on_a_chroma_server_are_shared_by_its_processes(tmp_path, embedder, docs, server_settings):
    """Two data dirs (two processes' keyword indexes) over one server's collections."""
    from rag import RAG

    with RAG(data_dir=tmp_path / "one", embedder=embedder, **server_settings) as rag, \
            RAG(data_dir=tmp_path / "two", embedder=embedder, **server_settings) as other:
        rag.ingest([docs / "harbours"])
        rag.create_collection("villes")
        rag.collection("villes").ingest([docs / "villes"])
        assert [(c.name, c.documents) for c in other.collections()] == [("default", 3), ("villes", 3)]
        assert _cited(other.collection("villes").ask(BELL)) == {"Aubrac-le-Haut.txt"}
        rag.delete_collection("villes")
        assert [c.name for c in other.collections()] == ["default"]
