"""`rag doctor`: what it finds in a damaged data dir, what it repairs, and what it cannot."""

from __future__ import annotations

import shutil

import pytest

from rag.cli import main


@pytest.fixture
def docs(tmp_path, article):
    """The sample article and a second file, ingested in small chunks."""
    other = article.parent / "notes.txt"
    other.write_text("Notes de réunion\n\n" + " ".join(
        f"Point {n} : le budget de l'association sera discuté puis voté en mars par le bureau."
        for n in range(1, 9)), encoding="utf-8")
    return article, other


def _chunks(store) -> dict[str, tuple[str, dict]]:
    got = store.collection.get(include=["documents", "metadatas"])
    return {i: (t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])}


def test_clean_store_has_no_problems(make_rag, docs):
    rag = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)
    rag.ingest(list(docs))
    report = rag.doctor(repair=False)
    assert report.ok and report.problems == report.remaining == report.notes == []
    docs[1].write_text("Tout a changé.", encoding="utf-8")
    assert rag.doctor().notes == [f"{docs[1]}: file changed since indexed"]


def test_damage_is_found_then_repaired(make_rag, docs):
    article, other = docs
    rag = make_rag(chunk_tokens=64, chunk_overlap_tokens=16)
    rag.ingest([article, other])
    store = rag.store
    clean = _chunks(store)
    by_source = {}
    for i, (text, meta) in sorted(clean.items()):
        by_source.setdefault(meta["source"], []).append((i, text, meta))
    article_chunks, other_chunks = by_source[str(article)], by_source[str(other)]
    assert len(article_chunks) > 5 and len(other_chunks) >= 2
    got = store.collection.get(ids=[article_chunks[0][0]], include=["embeddings"])
    vector = got["embeddings"][0].tolist()

    def add(ids, texts, metas):
        store.collection.upsert(ids=ids, embeddings=[vector] * len(ids), documents=texts, metadatas=metas)

    # an interrupted replace: two chunks of a version whose chunk 0 never came (orphans) ...
    add(["orphan-1", "orphan-2"], ["a", "b"],
        [{**article_chunks[1][2], "doc_hash": "e" * 64, "chunk_index": n} for n in (1, 2)])
    # ... and an old version of notes.txt left beside the new one (two complete versions)
    add(["old-0"], ["vieux"], [{**other_chunks[0][2], "doc_hash": "0" * 64, "n_chunks": 1}])
    # a chunk lost from the article, another's offsets off by one, a keyword entry missing
    store.collection.delete(ids=[article_chunks[3][0]])
    moved = article_chunks[4]
    store.collection.update(ids=[moved[0]], metadatas=[{**moved[2], "start": moved[2]["start"] + 1}])
    store.keyword.delete([other_chunks[1][0]])

    found = rag.doctor(repair=False)
    assert not found.ok and found.remaining == found.problems
    assert found.problems == [
        f"{article}: {len(article_chunks) - 1} chunks stored, {len(article_chunks)} expected",
        f"{other}: 2 complete versions stored",
        "2 orphan chunks (of 1 interrupted or superseded versions)",
        # missing: the one deleted, and the old version's; extra: the chunk lost from Chroma
        "keyword index out of step with Chroma: 2 chunks missing, 1 extra",
    ]
    assert len(_chunks(store)) == len(clean) + 3 - 1  # checking changed nothing

    report = rag.doctor()
    assert report.ok and report.problems == found.problems
    assert report.repaired == [
        f"{other}: dropped 1 older version(s)",
        "dropped 3 chunks of incomplete or superseded versions; re-synced 2 keyword entries",
        f"{article}: re-indexed from its file",
    ]
    assert _chunks(store) == clean and store.keyword.ids() == set(clean)
    assert rag.doctor(repair=False).problems == []

    # offsets that no longer match an unchanged file are found too, and re-indexed
    store.collection.update(ids=[moved[0]], metadatas=[{**moved[2], "start": moved[2]["start"] + 1}])
    found = rag.doctor(repair=False)
    assert found.problems == [
        f"{article}: offsets of 1 of {len(article_chunks)} chunks do not match its text"
    ]
    assert rag.doctor().repaired == [f"{article}: re-indexed from its file"]
    assert _chunks(store) == clean


def test_cli_exit_status(tmp_path, docs, monkeypatch, real_embedder, capsys):
    import rag.factory
    from rag import RAG

    monkeypatch.setattr(rag.factory, "make_embedder", lambda settings: real_embedder)
    data = tmp_path / "data"
    article, other = docs
    assert main(["--data-dir", str(data), "ingest", str(article), str(other)]) == 0
    assert main(["--data-dir", str(data), "doctor"]) == 0
    assert "no problems found" in capsys.readouterr().out

    with RAG(data_dir=data, embedder=real_embedder) as damaged:  # a chunk lost, and the file gone
        chunk = damaged.store.collection.get(where={"$and": [{"source": str(article)}, {"chunk_index": 1}]})
        damaged.store.collection.delete(ids=chunk["ids"])
    moved = tmp_path / "elsewhere.txt"
    shutil.move(article, moved)
    assert main(["--data-dir", str(data), "doctor", "--check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"problem: {article}: ") and "repaired" not in out
    assert main(["--data-dir", str(data), "doctor"]) == 1  # nothing to re-index it from
    assert f"remaining: {article}: " in capsys.readouterr().out

    shutil.move(moved, article)
    assert main(["--data-dir", str(data), "doctor"]) == 0
    out = capsys.readouterr().out
    assert f"repaired: {article}: re-indexed from its file" in out and "all problems repaired" in out
