"""Fetching web pages (ingest.web) from a real server on 127.0.0.1: the main text of a news page
without its boilerplate, its title and date from the metadata, and a one-line reason for each
page that cannot be used."""

import gzip
import socket

import pytest

from ingest.loaders import LoadError
from ingest.web import Limits, fetch, host_allowed, is_url, normalized, page_document
from tests.conftest import DATA

ARTICLE = (DATA / "web" / "quai-brest.html").read_bytes()
ANY = Limits(timeout_s=10)


def reason(url: str, limits: Limits = ANY, **conditional) -> str:
    with pytest.raises(LoadError) as refused:
        fetch(url, limits, **conditional)
    assert refused.value.path == normalized(url)
    return refused.value.reason


def test_a_news_page_gives_its_main_text_title_and_date(site):
    page = fetch(site.page("/2026/03/quai.html", ARTICLE, ETag='"v1"'), ANY)
    doc = page_document(page)
    assert doc.source == site.url("/2026/03/quai.html")
    assert doc.title == "Brest : le nouveau quai des éoliennes ouvrira en 2027"
    assert doc.date == "2026-03-17"
    assert doc.language == "fr"
    assert "Le chantier coûtera 184 millions d’euros" in doc.text
    assert "coquille Saint-Jacques, entre avril et juin" in doc.text
    for boilerplate in ("cookies", "newsletter", "Les plus lus", "Tempête", "Mentions légales",
                        "Tous droits réservés", "Se connecter"):
        assert boilerplate not in doc.text
    assert page.etag == '"v1"'


def test_a_page_in_another_charset_is_decoded_by_its_header(site):
    latin = ARTICLE.decode("utf-8").replace('charset="utf-8"', "").replace("’", "'").encode("latin-1")
    doc = page_document(fetch(site.page("/latin", latin, kind="text/html; charset=ISO-8859-1"), ANY))
    assert "Le chantier coûtera 184 millions d'euros" in doc.text


def test_a_compressed_page_is_uncompressed(site):
    doc = page_document(fetch(site.page("/gz", gzip.compress(ARTICLE), Content_Encoding="gzip"), ANY))
    assert "Le quai, long de 420 mètres" in doc.text


def test_a_missing_page_is_refused_with_its_status(site):
    assert reason(site.url("/nowhere")) == "the server answered HTTP 404 Not Found"
    site.page("/boom", "<h1>oops</h1>", status=500)
    assert reason(site.url("/boom")) == "the server answered HTTP 500 Internal Server Error"


def test_a_page_over_the_size_limit_is_refused(site):
    url = site.page("/big", b"<p>" + b"x" * (3 * 2**18 - 7) + b"</p>")
    limits = Limits(max_bytes=2**17, timeout_s=10)
    assert reason(url, limits) == "too large (0.75 MB > 0.125 MB limit; setting url_max_mb)"
    bomb = site.page("/bomb", gzip.compress(b"<p>" + b"a" * 5_000_000), Content_Encoding="gzip")
    assert reason(bomb, limits) == "too large (more than 0.125 MB limit; setting url_max_mb)"


def test_a_redirect_is_followed_and_a_loop_is_refused(site):
    site.page("/article", ARTICLE)
    moved = site.page("/old", "", status=301, Location="/article")
    page = fetch(moved, ANY)
    assert (page.url, page.final_url) == (moved, site.url("/article"))
    site.page("/a", "", status=302, Location="/b")
    site.page("/b", "", status=302, Location="/a")
    assert reason(site.url("/a"), Limits(max_redirects=3, timeout_s=10)) == (
        "too many redirects (more than 3; setting url_max_redirects)")
    assert len(site.asked("/a")) + len(site.asked("/b")) == 4
    site.page("/to-file", "", status=302, Location="file:///etc/passwd")
    assert reason(site.url("/to-file")) == ("redirected to file:///etc/passwd, not a web address: only "
                                             "http:// and https:// URLs can be fetched, not file://")


def test_a_file_that_is_not_html_is_refused(site):
    url = site.page("/report.pdf", b"%PDF-1.7 ...", kind="application/pdf")
    assert reason(url) == ("not a web page: its type is application/pdf (only HTML pages are fetched; "
                           "download the file and ingest it instead)")


def test_a_page_with_no_main_text_is_refused(site):
    app = ('<html><head><title>App</title><script src="/app.js"></script></head>'
           '<body><div id="app"></div><script>start()</script></body></html>')
    with pytest.raises(LoadError, match=r"^no main text found in the page \(one built by JavaScript"):
        page_document(fetch(site.page("/app", app), ANY))


def test_only_http_and_https_are_fetched():
    assert is_url("ftp://example.org/a") and not is_url("notes/a.txt")
    for url, why in [("ftp://example.org/a", "not ftp://"), ("file:///etc/passwd", "not file://"),
                     ("http:///nohost", "it names no host"), ("http://h:port/", "its port is not a number")]:
        with pytest.raises(LoadError, match=why):
            normalized(url)
    assert normalized("HTTP://Example.ORG:8080/a?b=1#top") == "http://example.org:8080/a?b=1"


def test_the_allow_list_holds_at_every_redirect(site):
    allowed = Limits(timeout_s=10, hosts=("127.0.0.1",))
    site.page("/ok", ARTICLE)
    assert fetch(site.url("/ok"), allowed) is not None
    assert reason(site.url("/ok"), Limits(hosts=("*.example.org",))) == (
        "127.0.0.1 is not on the list of hosts this server may fetch from (setting url_allow)")
    out = site.page("/out", "", status=302, Location="http://169.254.169.254/latest/meta-data/")
    assert reason(out, allowed) == (
        "169.254.169.254 is not on the list of hosts this server may fetch from (setting url_allow)")
    assert reason(site.url("/ok"), Limits(hosts=())) == (
        "adding web pages is off here (setting url_allow names the hosts they may come from)")
    assert host_allowed("https://news.example.org/a", ("*.example.org",))
    assert not host_allowed("https://example.org.evil.net/", ("*.example.org", "example.org"))


def test_an_unchanged_page_is_not_sent_again(site):
    url = site.page("/p", ARTICLE, ETag='"v1"', Last_Modified="Tue, 17 Mar 2026 06:45:00 GMT")
    assert fetch(url, ANY, etag='"v1"') is None
    assert fetch(url, ANY, last_modified="Tue, 17 Mar 2026 06:45:00 GMT") is None
    assert fetch(url, ANY, etag='"v0"') is not None
    assert [h.get("if-none-match") for h in site.asked("/p")] == ['"v1"', None, '"v0"']


def test_a_server_that_does_not_answer_is_a_reason():
    assert reason("http://127.0.0.1:9/").startswith("could not be fetched: ")


def test_a_server_that_never_answers_is_given_up_on():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        assert reason(url, Limits(timeout_s=0.5)) == "no answer within 0.5 s (setting url_timeout_s)"
