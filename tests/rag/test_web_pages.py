"""Web pages by URL through the Python API, from a real server on 127.0.0.1: the URL is the
source, a citation's quote is the kept copy's text at its offsets, `sync` fetches again with the
page's ETag and replaces a changed page, and a page that cannot be fetched keeps what was
indexed."""

import pytest

from tests.conftest import DATA

ARTICLE = (DATA / "web" / "quai-brest.html").read_text("utf-8")
QUESTION = "Combien d’euros coûtera le chantier ?"


@pytest.fixture
def page(site):
    return site.page("/2026/03/quai.html", ARTICLE, ETag='"v1"')


def check_citations(rag, answer):
    assert answer.citations
    for c in answer.citations:
        assert rag.document_text(c.source, c.start, c.end) == c.quote


def test_a_page_is_indexed_and_cited_by_its_url(make_rag, page):
    rag = make_rag()
    report = rag.ingest([page])
    assert (report.added, report.failed) == ([page], [])
    [doc] = rag.sources()
    assert (doc.source, doc.title, doc.date, doc.language) == (
        page, "Brest : le nouveau quai des éoliennes ouvrira en 2027", "2026-03-17", "fr")
    answer = rag.ask(QUESTION)
    assert answer.citations[0].source == page
    assert "184 millions d’euros" in answer.citations[0].quote
    check_citations(rag, answer)
    assert "newsletter" not in rag.document_text(page)


def test_sync_asks_with_the_etag_and_replaces_a_changed_page(make_rag, site, page, embedder):
    rag = make_rag()
    rag.ingest([page])
    embedded = embedder.embedded
    report = rag.sync()
    assert (report.unchanged, report.updated) == ([page], [])
    assert site.asked("/2026/03/quai.html")[-1]["if-none-match"] == '"v1"'
    assert embedder.embedded == embedded  # a 304: nothing read, nothing embedded
    site.page("/2026/03/quai.html", ARTICLE.replace("184 millions", "212 millions"), ETag='"v2"')
    report = rag.sync()
    assert (report.updated, report.failed) == ([page], [])
    answer = rag.ask(QUESTION)
    assert "212 millions d’euros" in answer.citations[0].quote
    check_citations(rag, answer)
    assert "184 millions" not in rag.document_text(page)
    assert [p.name for p in (rag.collection_dir / "web").glob("*/*.json")].count("kept.json") == 1
    assert len(list((rag.collection_dir / "web").glob("*/*.json"))) == 2  # kept.json and its version


def test_a_page_that_cannot_be_fetched_keeps_its_indexed_version(make_rag, site, page):
    rag = make_rag()
    rag.ingest([page])
    site.page("/2026/03/quai.html", "<h1>Maintenance</h1>", status=503)
    report = rag.sync()
    assert report.failed == [(page, "the server answered HTTP 503 Service Unavailable "
                                    "(the version indexed before is kept)")]
    assert [d.source for d in rag.sources()] == [page]
    check_citations(rag, rag.ask(QUESTION))
    site.page("/2026/03/quai.html", "<html><body><div id='app'></div></body></html>", ETag='"v3"')
    assert rag.sync().failed[0][1].startswith("no main text found in the page")
    check_citations(rag, rag.ask(QUESTION))  # the refused version's copy is not the one read


def test_reindex_and_doctor_read_the_kept_copy_without_the_network(make_rag, site, page):
    rag = make_rag()
    chunks = rag.ingest([page]).chunks
    site.server.shutdown()
    site.server.server_close()
    report = rag.reindex()
    assert (report.added, report.chunks, report.failed) == ([page], chunks, [])
    health = rag.doctor(repair=False)
    assert (health.ok, health.problems, health.notes) == (True, [], [])
    check_citations(rag, rag.ask(QUESTION))


def test_remove_by_url_forgets_the_page_and_its_copy(make_rag, page):
    rag = make_rag()
    rag.ingest([page])
    assert rag.remove([page.upper().replace("/2026/03/QUAI.HTML", "/2026/03/quai.html")]) == [page]
    assert rag.sources() == []
    assert list((rag.collection_dir / "web").iterdir()) == []


def test_a_server_user_may_add_pages_only_from_allowed_hosts(make_rag, page):
    rag = make_rag()
    report = rag.ingest([page], on_behalf=True)
    assert report.failed == [(page, "adding web pages is off here (setting url_allow names the "
                                    "hosts they may come from)")]
    assert rag.sources() == []
    report = make_rag(url_allow=["*.example.org"]).ingest([page], on_behalf=True)
    assert report.failed[0][1].startswith("127.0.0.1 is not on the list of hosts")
    assert make_rag(url_allow=["127.0.0.1"]).ingest([page], on_behalf=True).added == [page]


def test_files_and_pages_in_one_ingest(make_rag, tmp_path, site, page):
    note = tmp_path / "note.txt"
    note.write_text("Le quai de Lorient sera rénové en 2028.", encoding="utf-8")
    rag = make_rag()
    report = rag.ingest([note, page, site.url("/gone"), "ftp://example.org/x"])
    assert sorted(report.added) == sorted([str(note), page])
    assert report.failed == [(site.url("/gone"), "the server answered HTTP 404 Not Found"),
                             ("ftp://example.org/x", "not a web address: only http:// and https:// "
                                                     "URLs can be fetched, not ftp://")]
