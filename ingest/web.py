"""Web pages by URL: fetched within limits, and their main text taken out by trafilatura.

``fetch`` asks for one page: http and https only, at most ``Limits.max_bytes`` read, within
``Limits.timeout_s`` in all, at most ``Limits.max_redirects`` redirects, each one checked like
the first URL (against ``Limits.hosts`` when set: fetching on someone else's behalf must not
reach the hosts of the server's own network). A page fetched before is asked for again with
its ETag and Last-Modified, and a server that answers 304 costs nothing. Every refusal is a
``LoadError`` whose reason is one line naming the cause.

``page_document`` turns a fetched page into a ``LoadedDocument``: the main text without menus,
ads and footers, and the title and date of the page's metadata.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from .language import detect_language
from .loaders.base import BLOCK_SEPARATOR, LoadedDocument, LoadError, calendar_date

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
REDIRECTS = (301, 302, 303, 307, 308)
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "rag-cite (+https://github.com/rag-cite; fetches the pages its users add)"


def is_url(text: object) -> bool:
    """Whether ``text`` is written as a URL (``scheme://…``), whatever the scheme."""
    return isinstance(text, str) and _SCHEME.match(text) is not None


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 2**20
    timeout_s: float = 30.0
    max_redirects: int = 5
    hosts: tuple[str, ...] | None = None
    """Host names the URL and each redirect must match (``example.org``, ``*.example.org``,
    ``*``); None: any host."""


@dataclass(frozen=True)
class Page:
    """A page as the server sent it."""

    url: str  # as asked for (the document's source)
    final_url: str  # after redirects
    body: bytes
    charset: str | None
    etag: str | None
    last_modified: str | None


def normalized(url: str) -> str:
    """``url`` with its scheme and host in lower case and no fragment: the source a page is
    stored under. Anything but an http or https URL with a host is a ``LoadError``."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise LoadError(url, f"not a web address: only http:// and https:// URLs can be fetched, "
                             f"not {parts.scheme or 'this'}://")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise LoadError(url, "not a valid URL: its port is not a number") from None
    if not host:
        raise LoadError(url, "not a valid URL: it names no host")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def host_allowed(url: str, hosts: tuple[str, ...] | None) -> bool:
    """Whether ``url``'s host matches one of ``hosts`` (None: any host)."""
    if hosts is None:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in hosts)


def fetch(url: str, limits: Limits, *, etag: str | None = None,
          last_modified: str | None = None) -> Page | None:
    """The page at ``url``, or None when the server says it has not changed since the version
    of ``etag`` / ``last_modified``."""
    import httpx

    asked = current = normalized(url)
    deadline = time.monotonic() + limits.timeout_s
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if limits.hosts == ():
        raise LoadError(asked, "adding web pages is off here (setting url_allow names the hosts "
                               "they may come from)")
    with httpx.Client(timeout=limits.timeout_s, follow_redirects=False) as client:
        for _ in range(limits.max_redirects + 1):
            if not host_allowed(current, limits.hosts):
                raise LoadError(asked, f"{urlsplit(current).hostname} is not on the list of hosts "
                                       "this server may fetch from (setting url_allow)")
            try:
                with client.stream("GET", current, headers=headers) as response:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        current = _redirect(asked, urljoin(current, response.headers["location"]))
                        continue
                    return _page(asked, current, response, limits, deadline)
            except httpx.TimeoutException:
                raise LoadError(asked, f"no answer within {limits.timeout_s:g} s (setting url_timeout_s)") from None
            except httpx.HTTPError as exc:
                raise LoadError(asked, f"could not be fetched: {_network_reason(exc)}") from None
    raise LoadError(asked, f"too many redirects (more than {limits.max_redirects}; setting url_max_redirects)")


def _redirect(asked: str, target: str) -> str:
    try:
        return normalized(target)
    except LoadError as exc:
        raise LoadError(asked, f"redirected to {target[:200]}, {exc.reason}") from None


def _page(asked: str, final: str, response, limits: Limits, deadline: float) -> Page | None:
    if response.status_code == 304:
        return None
    if response.status_code != 200:
        raise LoadError(asked, f"the server answered HTTP {response.status_code} {response.reason_phrase}".rstrip())
    kind, _, params = response.headers.get("content-type", "").partition(";")
    if kind.strip().lower() not in HTML_TYPES:
        raise LoadError(asked, f"not a web page: its type is {kind.strip() or 'not given'} (only HTML pages "
                               "are fetched; download the file and ingest it instead)")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise LoadError(asked, _too_large(int(length), limits))
    body = bytearray()
    for block in response.iter_bytes():  # uncompressed a block at a time: a gzip bomb stops early
        body += block
        if len(body) > limits.max_bytes:
            raise LoadError(asked, _too_large(None, limits))
        if time.monotonic() > deadline:
            raise LoadError(asked, f"not received within {limits.timeout_s:g} s (setting url_timeout_s)")
    charset = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
    return Page(url=asked, final_url=final, body=bytes(body), charset=charset and charset.group(1),
                etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"))


def _too_large(size: int | None, limits: Limits) -> str:
    told = f"{size / 2**20:.3g} MB > " if size is not None else "more than "
    return f"too large ({told}{limits.max_bytes / 2**20:.3g} MB limit; setting url_max_mb)"


def _network_reason(exc: Exception) -> str:
    reason = str(exc).strip() or type(exc).__name__
    return reason.splitlines()[0][:200]


def page_document(page: Page) -> LoadedDocument:
    """The page's main text (trafilatura), titled and dated by its metadata; a page with no
    main text is a ``LoadError``."""
    import trafilatura

    content = page.body
    if page.charset:
        try:
            content = page.body.decode(page.charset, errors="replace")
        except LookupError:
            pass  # an unknown charset: trafilatura guesses from the bytes
    found = trafilatura.bare_extraction(
        content, url=page.final_url, with_metadata=True, include_comments=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    lines = (found.text or "").splitlines() if found is not None else []
    text = BLOCK_SEPARATOR.join(line.strip() for line in lines if line.strip())  # a block a line
    if not text:
        raise LoadError(page.url, "no main text found in the page (one built by JavaScript in the "
                                  "browser has none to fetch)")
    date = calendar_date(found.date or "")
    return LoadedDocument(source=page.url, text=text, title=(found.title or "").strip() or None,
                          date=date, pages=None, language=detect_language(text))
