"""Web pages added through the service (REST) and the chat page (a real browser), from a news
site on 127.0.0.1: off unless url_allow names the host, and then cited by their URL with the
quote at its offsets in the kept copy."""

from __future__ import annotations

import pytest

from tests.conftest import DATA
from tests.site import Site

from .browser import VIEWPORT, ask, chromium, new_conversation, open_chat
from .conftest import HTTP, running

pytestmark = pytest.mark.xdist_group("ui")

ARTICLE = (DATA / "web" / "quai-brest.html").read_bytes()
QUESTION = "Combien d’euros coûtera le chantier ?"


@pytest.fixture(scope="module")
def news():
    site = Site()
    site.thread.start()
    site.page("/2026/03/quai.html", ARTICLE, ETag='"v1"')
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory, real_embedder):
    """The app (REST and chat page) over an empty data dir whose server may fetch from 127.0.0.1."""
    from rag import RAG
    from ui.serve.app import create_app

    data = tmp_path_factory.mktemp("pages") / "data"
    with RAG(data_dir=data, embedder=real_embedder, url_allow=["127.0.0.1"]) as rag:
        with running(create_app(rag)) as url:
            yield url, rag


def test_rest_adds_a_page_from_an_allowed_host_and_cites_it(service, news):
    url, rag = service
    page = news.url("/2026/03/quai.html")
    report = HTTP.post(f"{url}/api/documents/url", json={"url": page}).json()
    assert (report["added"], report["failed"]) == ([page], [])
    [doc] = HTTP.get(f"{url}/api/documents").json()
    assert (doc["source"], doc["date"]) == (page, "2026-03-17")
    answer = HTTP.post(f"{url}/api/ask", json={"question": QUESTION}).json()
    cited = answer["citations"][0]
    assert cited["source"] == page and "184 millions d’euros" in cited["quote"]
    assert HTTP.get(cited["url"]).json()["text"] == cited["quote"]

    refused = HTTP.post(f"{url}/api/documents/url", json={"url": "http://localhost:9/admin"}).json()
    assert refused["failed"] == [{"name": "http://localhost:9/admin", "reason": "localhost is not on the "
                                  "list of hosts this server may fetch from (setting url_allow)"}]
    bad = HTTP.post(f"{url}/api/documents/url", json={"url": "file:///etc/passwd"}).json()
    assert bad["failed"][0]["reason"].startswith("not a web address: only http:// and https://")
    assert [d["source"] for d in HTTP.get(f"{url}/api/documents").json()] == [page]


def test_adding_pages_is_off_by_default(tmp_path, real_embedder, news):
    from rag import RAG
    from ui.serve.app import create_app

    with RAG(data_dir=tmp_path / "data", embedder=real_embedder) as rag, running(create_app(rag, with_ui=False)) as url:
        before = len(news.requests)
        response = HTTP.post(f"{url}/api/documents/url", json={"url": news.url("/2026/03/quai.html")})
        assert response.status_code == 403
        assert response.json()["error"] == {
            "message": "adding web pages is off on this server (its url_allow setting names the hosts "
                       "they may come from)", "type": "permission_error", "param": "url", "code": "web_pages_off"}
        assert len(news.requests) == before  # nothing was fetched
        assert rag.sources() == []


def test_the_chat_page_adds_a_page_and_shows_its_cited_passage(service, news):
    url, rag = service
    page_url = news.url("/2026/03/quai.html")
    rag.remove([page_url])
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)
        page = open_chat(context, url + "/")
        page.get_by_role("tab", name="Documents").click()
        page.locator("#page-url textarea, #page-url input").first.fill(page_url)
        page.locator("#add-page").click()
        page.wait_for_function("() => document.querySelector('#ingest-status')?.innerText.includes('Indexed')")
        assert "1 added" in page.locator("#ingest-status").inner_text()
        page.wait_for_function(f"() => document.querySelector('#documents')?.innerText.includes({page_url!r})")
        page.get_by_role("tab", name="Chat").click()
        new_conversation(page)
        ask(page, QUESTION, 1)
        cite = page.locator("#sources-panel .cite").first
        assert cite.get_attribute("data-source") == page_url
        start, end = int(cite.get_attribute("data-start")), int(cite.get_attribute("data-end"))
        assert cite.locator("mark").inner_text() == rag.document_text(page_url, start, end)
        assert "184 millions d’euros" in cite.locator("mark").inner_text()
        passage = cite.locator(".cite-passage").inner_text()
        assert "La région Bretagne a présenté mardi" in passage  # context around the quote, from the copy
        assert "newsletter" not in passage
        context.close()
