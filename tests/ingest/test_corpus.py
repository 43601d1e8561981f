"""Checks against the shared sample corpus (skipped when ../shared is absent)."""

from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.discover import file_hash, iter_files
from ingest.loaders import load


def words(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


@pytest.fixture
def news_fr(shared_dir: Path) -> list[Path]:
    files = sorted((shared_dir / "corpus" / "news-fr").glob("*.txt"))
    if not files:
        pytest.skip("no shared news-fr corpus")
    return files


def test_header_of_first_article(news_fr):
    doc = load(news_fr[0])
    assert doc.text.startswith(" date 2021-12 ")
    assert doc.date == "2021-12"
    assert doc.title.startswith("La Russie a nié avoir l’intention d’attaquer son voisin")
    assert doc.language == "fr"


def test_chunks_point_back_into_the_files(news_fr):
    for path in news_fr:
        doc = load(path)
        chunks = chunk_document(
            doc,
            count_tokens=words,
            max_tokens=60,
            overlap_tokens=15,
            hard_max_tokens=80,
            doc_hash=file_hash(path),
        )
        assert len(chunks) > 1
        source_text = Path(doc.source).read_text(encoding="utf-8")
        for chunk in chunks:
            meta = chunk.metadata
            assert source_text[meta["start"] : meta["end"]] == chunk.page_content
            assert words([chunk.page_content])[0] <= 80
            assert meta["date"] == doc.date and meta["language"] == "fr"


def test_discovery_finds_the_corpus(shared_dir, news_fr):
    files, problems = iter_files([shared_dir / "corpus"])
    assert set(news_fr) <= set(files)
    assert problems == []
