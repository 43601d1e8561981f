"""HTML: the main content's text, one block (paragraph, heading, list item...) per paragraph.

Offsets index the extracted text (`LoadedDocument.text`), not the HTML source. Page chrome is
dropped (script, style, nav, aside, form, noscript, and header/footer outside <main>/<article>);
<main>, or a page's only <article>, is preferred over <body>.
"""

from __future__ import annotations

import re
from pathlib import Path

from typing import TYPE_CHECKING

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, calendar_date, read_bytes, register
from ingest.loaders.decoding import decode_bytes
from ingest.loaders.text import cap_title

if TYPE_CHECKING:  # bs4 is imported on first use: `import ingest` stays light
    from bs4 import BeautifulSoup, Tag

_DROP = ("script", "style", "nav", "aside", "form", "noscript", "template", "iframe", "svg")
_CHROME = ("header", "footer")
_BLOCKS = frozenset(
    "address article blockquote caption dd details dialog div dl dt fieldset figcaption figure "
    "h1 h2 h3 h4 h5 h6 hr li main ol p pre section summary table tbody thead tfoot tr td th ul "
    "header footer".split()
)
_SPACES = re.compile(r"\s+")
_DATE = re.compile(r"\s*(\d{4})-(\d{2})(?:-(\d{2}))?")


@register((".html", ".htm"))
def load_html(path: Path) -> LoadedDocument:
    """Load an HTML file; raises LoadError for unreadable, binary or text-less files."""
    data = read_bytes(path)
    if not data.strip():
        raise LoadError(path, "empty file")
    try:
        markup = _decode(data)
    except ValueError as error:
        raise LoadError(path, str(error)) from None
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    title = _title(soup)
    articles = soup.find_all("article", limit=2)
    root = soup.find("main") or (articles[0] if len(articles) == 1 else soup.body) or soup
    date = _date(soup, root)
    for tag in root.find_all(_DROP):
        tag.decompose()
    for tag in root.find_all(_CHROME):
        if not tag.find_parent(("main", "article")):
            tag.decompose()
    text = "\n\n".join(extract_blocks(root))
    if not text:
        raise LoadError(path, "no text content")
    return LoadedDocument(
        source=str(path),
        text=text,
        title=title,
        date=date,
        pages=None,
        language=_language(soup, text),
    )


def extract_blocks(root: Tag) -> list[str]:
    """Text of each block-level element under `root`, inner whitespace collapsed (kept in <pre>)."""
    from bs4 import NavigableString

    blocks: list[str] = []
    pieces: list[str] = []

    def flush(preformatted: bool) -> None:
        lines = "".join(pieces).split("\n")
        pieces.clear()
        lines = [line.rstrip() if preformatted else line.strip() for line in lines]
        block = "\n".join(line for line in lines if line)
        if block:
            blocks.append(block)

    def walk(node: Tag, preformatted: bool) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # skip comments, doctypes, CDATA...
                    pieces.append(str(child) if preformatted else _SPACES.sub(" ", child))
            elif child.name == "br":
                pieces.append("\n")
            elif child.name in _BLOCKS:
                inner = preformatted or child.name == "pre"
                flush(preformatted)
                walk(child, inner)
                flush(inner)
            else:
                walk(child, preformatted)

    walk(root, False)
    flush(False)
    return blocks


def _decode(data: bytes) -> str:
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if declared:
        try:
            return data.decode(declared).lstrip("\ufeff")
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(data).lstrip("\ufeff")


def _title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None and tag.get_text().strip():
            return cap_title(tag.get_text())
    return None


def _date(soup: BeautifulSoup, root: Tag) -> str | None:
    meta = soup.find("meta", attrs={"property": "article:published_time"})
    has_datetime = {"datetime": True}
    time = root.find("time", attrs=has_datetime) or soup.find("time", attrs=has_datetime)
    for value in (meta and meta.get("content"), time and time.get("datetime")):
        match = _DATE.match(value) if isinstance(value, str) else None
        if match:
            year, month, day = match.groups()
            date = calendar_date(f"{year}-{month}" + (f"-{day}" if day else ""))
            if date:
                return date
    return None


def _language(soup: BeautifulSoup, text: str) -> str:
    lang = soup.html.get("lang") if soup.html else None
    if isinstance(lang, str) and lang[:2].lower() in ("fr", "en"):
        return lang[:2].lower()
    return detect_language(text)
