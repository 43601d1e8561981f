"""Large text files are ingested a part at a time (``ingest.load_parts``): exact offsets across
parts, one version at a time in retrieval while a new one is streamed in, nothing left behind
by a file that fails part-way."""

from __future__ import annotations

from pathlib import Path

import pytest

import ingest.loaders.text as text_loader
import rag.indexer
from ingest.loaders import LoadError

PLACES = ["Brest", "Lorient", "Quimper", "Vannes", "Saint-Malo", "Morlaix", "Concarneau", "Douarnenez"]
KEEPER_QUESTION = "Comment s'appelle le gardien du phare de l'île Vierge ?"


def lighthouses(keeper: str) -> str:
    body = [f"Le phare numéro {i} domine le port de {PLACES[i % len(PLACES)]} et mesure {20 + i} "
            f"mètres. Sa lanterne fut allumée pour la première fois en {1850 + i}." for i in range(30)]
    body.insert(4, f"Le gardien du phare de l'île Vierge s'appelle {keeper}; il y vit depuis vingt ans.")
    tail = ["Le dernier phare de la liste, celui des Pierres Noires, n'a jamais eu de gardien."]
    return "\n\n".join(["date 2024-05-02 Les phares de Bretagne", *body, *tail]) + "\n"


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.slow)])
def chroma_settings(request) -> dict:
    """Each test against an embedded Chroma and against a real `chroma run` server (slow: the
    same store calls as embedded, and server mode has its own fast tests, test_server_mode.py)."""
    return request.getfixturevalue("server_settings") if request.param == "server" else {}


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(text_loader, "PART_BYTES", 600)  # the book (4 KB) in 7 parts
    monkeypatch.setattr(rag.indexer, "EMBED_BATCH_CHUNKS", 8)


@pytest.fixture
def book(tmp_path) -> Path:
    path = tmp_path / "docs" / "phares.txt"
    path.parent.mkdir()
    path.write_text(lighthouses("Yann Kermarrec"), encoding="utf-8")
    return path


def stored(rag_) -> list[tuple[str, dict]]:
    got = rag_.store.collection.get(include=["documents", "metadatas"])
    return sorted(zip(got["documents"], got["metadatas"]), key=lambda c: c[1]["chunk_index"])


def test_a_file_read_in_parts_is_ingested_with_exact_offsets(make_rag, book, small_parts, embedder):
    rag_ = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)
    parts = list(rag.indexer.load_parts(book))
    assert len(parts) > 5
    calls = []
    report = rag_.ingest([book], progress=lambda *call: calls.append(call))
    assert report.added == [str(book)] and report.failed == []
    assert calls[-1] == (1, 1, str(book)) and len(calls) == len(parts)
    assert all(done == 0 and "characters in" in what for done, _, what in calls[:-1])
    chunks = stored(rag_)
    (doc,) = rag_.sources()
    assert [m["chunk_index"] for _, m in chunks] == list(range(doc.chunks)) == list(range(report.chunks))
    text = book.read_text(encoding="utf-8")
    for chunk, meta in chunks:
        assert text[meta["start"] : meta["end"]] == chunk == rag_.document_text(book, meta["start"], meta["end"])
        assert meta["title"] == "Les phares de Bretagne" and meta["date"] == "2024-05-02"
    starts = [m["start"] for _, m in chunks]
    assert starts == sorted(starts) and chunks[-1][1]["start"] > parts[-1].offset
    assert rag_.doctor(repair=False).ok

    last = rag_.retrieve("Quel phare n'a jamais eu de gardien ?", k=3)
    assert "Pierres Noires" in last[0].text and last[0].text == text[last[0].start : last[0].end]

    embedded = embedder.embedded
    assert rag_.ingest([book]).unchanged == [str(book)] and embedder.embedded == embedded


def test_while_a_changed_file_is_streamed_in_only_its_last_version_is_retrieved(make_rag, book, small_parts):
    rag_ = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)
    rag_.ingest([book])
    old_text = book.read_text(encoding="utf-8")
    book.write_text(lighthouses("Erwan Le Gall"), encoding="utf-8")
    seen, during = [], []
    add = rag_.store.add

    def add_then_ask(chunks, vectors):
        add(chunks, vectors)
        seen.append(len(chunks))
        if not during and any("Erwan" in c.text for c in chunks):  # in Chroma, its chunk 0 not yet
            during.extend(rag_.retrieve(KEEPER_QUESTION, k=5))

    rag_.store.add = add_then_ask
    report = rag_.ingest([book])
    assert report.updated == [str(book)] and len(seen) > 2 and during
    assert all(p.text == old_text[p.start : p.end] for p in during)
    assert "Yann Kermarrec" in during[0].text
    passages = rag_.retrieve(KEEPER_QUESTION, k=5)
    assert "Erwan Le Gall" in passages[0].text
    assert not any("Yann" in p.text for p in passages)
    assert rag_.doctor(repair=False).ok


def test_a_file_that_fails_part_way_keeps_its_last_version_and_leaves_nothing(
        make_rag, book, small_parts, monkeypatch):
    rag_ = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)
    rag_.ingest([book])
    (before,) = rag_.sources()
    book.write_text(lighthouses("Erwan Le Gall"), encoding="utf-8")
    load_parts = rag.indexer.load_parts

    def fails_after_four(path, **kwargs):
        for number, part in enumerate(load_parts(path, **kwargs)):
            if number == 4:
                raise LoadError(path, "input/output error")
            yield part

    monkeypatch.setattr(rag.indexer, "load_parts", fails_after_four)
    report = rag_.ingest([book])
    assert report.failed == [(str(book), "input/output error")] and report.updated == []
    assert rag_.sources() == [before]
    hashes = {m["doc_hash"] for m in rag_.store.collection.get(include=["metadatas"])["metadatas"]}
    assert hashes == {before.doc_hash}  # the new version's chunks written so far are gone
    assert rag_.doctor(repair=False).ok
    assert "Yann Kermarrec" in rag_.retrieve(KEEPER_QUESTION, k=1)[0].text


def test_a_failing_model_stops_the_ingest_instead_of_blaming_the_file(make_rag, book, small_parts,
                                                                      embedder, monkeypatch):
    rag_ = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)

    def crash(texts, *, query=False):
        raise RuntimeError("the model crashed")

    monkeypatch.setattr(embedder, "encode", crash)
    with pytest.raises(RuntimeError, match="the model crashed"):  # not a bad file: an error
        rag_.ingest([book])
    assert rag_.sources() == []
