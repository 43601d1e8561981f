"""Checks against the test data: the dated news article (tests/data/news-fr, in the shape of the
shared sample corpus) and the evaluation sets' documents (tests/data/eval/*/docs)."""

from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.discover import file_hash, iter_files
from ingest.loaders import load
from tests.conftest import DATA, EVAL, NEWS_FR


def words(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


@pytest.fixture
def news_fr() -> list[Path]:
    files = sorted(NEWS_FR.glob("*.txt"))
    assert files, f"no article in {NEWS_FR}"
    return files


def test_header_of_first_article(news_fr):
    doc = load(news_fr[0])
    assert doc.text.startswith(" date 2021-12 ")
    assert doc.date == "2021-12"
    assert doc.title.startswith("Moscou réclame des garanties écrites contre tout nouvel élargissement")
    assert doc.language == "fr"


@pytest.mark.parametrize("folder, language", [("villes-fr", "fr"), ("harbours-en", "en")])
def test_eval_documents_have_a_title_line_and_paragraphs(folder, language):
    files = sorted((EVAL / folder / "docs").glob("*.txt"))
    assert len(files) >= 3
    for path in files:
        text = path.read_text(encoding="utf-8")
        title, blank, *paragraphs = text.split("\n")
        doc = load(path)
        assert blank == "" and doc.title == title and doc.date is None, path
        assert doc.language == language, path
        assert len([p for p in text.split("\n\n")[1:] if p.strip()]) >= 3, path


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


def test_discovery_finds_the_corpus(news_fr):
    files, problems = iter_files([DATA])
    assert set(news_fr) <= set(files)
    assert set(files) >= set(EVAL.glob("*/docs/*.txt")) and len(files) > 20
    assert problems == []
