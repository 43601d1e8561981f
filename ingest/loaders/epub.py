"""EPUB: the spine's XHTML documents in reading order, extracted with ebooklib and BeautifulSoup.

Offsets index the extracted text (`LoadedDocument.text`): each spine document's body becomes
text blocks as in the HTML loader (``html.extract_blocks``; script, style and nav dropped, so
an EPUB 3 navigation document in the spine adds nothing), blocks and chapters are separated by
a blank line, and `sections` gives each chapter's start with its title (its first heading, else
its entry in the table of contents). Title, date and language come from the package's Dublin
Core metadata. The zip is checked before parsing (``archive.read_zip``) and an EPUB whose
META-INF/encryption.xml encrypts more than fonts (DRM) is refused unread; ebooklib is imported
on first use and its warnings are silenced.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote

from ingest.language import detect_language
from ingest.loaders.archive import not_a_zip, read_zip
from ingest.loaders.base import LoadedDocument, LoadError, calendar_date, join_spans, register
from ingest.loaders.html import extract_blocks
from ingest.loaders.text import cap_title, first_line

NOT_A_ZIP = not_a_zip("EPUB")
CORRUPT = "corrupt or unsupported EPUB file"
DRM = "encrypted EPUB (DRM)"

ENCRYPTION = "META-INF/encryption.xml"
_XMLENC = "{http://www.w3.org/2001/04/xmlenc#}"
# Font obfuscation (IDPF, Adobe) is listed in encryption.xml too, and hides no text.
_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_DROP = ("script", "style", "nav", "template")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_DATE = re.compile(r"(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


@register((".epub",))
def load_epub(path: Path) -> LoadedDocument:
    """Load an e-book; raises LoadError for unreadable, corrupt, oversized, DRM-encrypted or
    text-less files."""
    data = read_zip(path, "EPUB")
    if _encrypted(path, data):
        raise LoadError(path, DRM)
    chapters, metadata = _extract(path, data)
    text, spans = join_spans((heading, chapter) for chapter, heading in chapters)
    sections = [(start, heading) for heading, start, _ in spans if heading]
    if not text:
        raise LoadError(path, "no text content")
    title, date, language = metadata
    title = title or (sections[0][1] if sections else None)
    return LoadedDocument(
        source=str(path),
        text=text,
        title=cap_title(title) if title else first_line(text),
        date=date,
        pages=None,
        language=language if language in ("fr", "en") else detect_language(text),
        sections=tuple(sections),
    )


def _encrypted(path: Path, data: bytes) -> bool:
    """Whether META-INF/encryption.xml lists encrypted data other than obfuscated fonts."""
    from lxml import etree

    with zipfile.ZipFile(BytesIO(data)) as archive:
        if ENCRYPTION not in archive.namelist():
            return False
        try:
            xml = archive.read(ENCRYPTION)
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            root = etree.fromstring(xml, parser)
        except Exception:  # a bad CRC, malformed XML...
            raise LoadError(path, CORRUPT) from None
    for encrypted in root.iter(f"{_XMLENC}EncryptedData"):
        method = encrypted.find(f"{_XMLENC}EncryptionMethod")
        if method is None or method.get("Algorithm") not in _FONT_OBFUSCATION:
            return True
    return False


def _extract(path: Path, data: bytes) -> tuple[list[tuple[str, str | None]], tuple]:
    """([(chapter text, chapter title)], (title, date, language)); every failure of ebooklib or
    of the markup becomes LoadError(CORRUPT)."""
    from ebooklib import epub

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ebooklib's, and bs4's 'XML parsed as HTML'
            book = epub.read_epub(BytesIO(data), {"ignore_ncx": True})
            toc = _toc_titles(book.toc)
            chapters = []
            for idref, _linear in book.spine:
                item = book.get_item_with_id(idref)
                if isinstance(item, epub.EpubHtml):
                    chapter, heading = _chapter(item.content)
                    if chapter:
                        chapters.append((chapter, heading or toc.get(item.file_name)))
            metadata = _metadata(book)
    except Exception:  # malformed packages make ebooklib and lxml raise many exception types
        raise LoadError(path, CORRUPT) from None
    return chapters, metadata


def _chapter(markup: bytes) -> tuple[str, str | None]:
    """(text of the document's body, its first heading)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")  # lxml's HTML parser reads XHTML, entities and all
    root = soup.body or soup
    for tag in root.find_all(_DROP):
        tag.decompose()
    heading = root.find(_HEADINGS)
    title = " ".join(heading.get_text().split()) if heading is not None else ""
    return "\n\n".join(extract_blocks(root)), title or None


def _toc_titles(toc) -> dict[str, str]:
    """File name -> title of its first entry in the (nested) table of contents."""
    titles: dict[str, str] = {}
    for entry in toc:
        node, children = entry if isinstance(entry, tuple) else (entry, ())
        href = getattr(node, "href", None)
        title = " ".join((getattr(node, "title", None) or "").split())
        if href and title:
            titles.setdefault(unquote(href.split("#")[0]), title)
        for name, child in _toc_titles(children).items():
            titles.setdefault(name, child)
    return titles


def _metadata(book) -> tuple[str | None, str | None, str | None]:
    """(DC title, DC date as 'YYYY[-MM[-DD]]', DC language's two-letter code)."""

    def values(name: str) -> list[str]:
        return [" ".join(value.split()) for value, _ in book.get_metadata("DC", name) if value]

    title = next((value for value in values("title") if value), None)
    dates = (_DATE.fullmatch(value) for value in values("date"))
    date = next((calendar_date(m.group(1)) for m in dates if m and calendar_date(m.group(1))), None)
    language = next((value[:2].lower() for value in values("language")), None)
    return title, date, language
